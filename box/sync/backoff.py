"""Reconnect schedule: quick first attempts after a drop, bounded exponential back-off with
jitter only once attempts keep failing.

Attempt 1 goes at once; later ones wait ``min_s * 2**(n-2)``, capped at ``max_s``, each drawn
from the upper half of that delay ("equal jitter": boxes behind one router that lost the broker
together spread out, yet none waits less than half the step). With the defaults (0.1 s, 1.5 s)
a box tries at 0, ~0.1, ~0.2, ~0.5, ~1 s, then every 0.75-1.5 s however long the broker is
away, so data flows again at most ~1.5 s after it returns. A connection counts as working, and
the schedule starts afresh, only once it stayed up ``stable_s``: a broker that accepts and drops
at once is not hammered at full speed. A broker that refuses the box's credentials is not
away: retrying quickly cannot help, so the next attempt waits at least ``REFUSED_S``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

STABLE_S = 5.0
REFUSED_S = 10.0


class Backoff:
    def __init__(
        self,
        min_s: float,
        max_s: float,
        rng: Callable[[], float] = random.random,
        stable_s: float = STABLE_S,
    ) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.rng = rng
        self.stable_s = stable_s
        self.failures = 0  # attempts since the last connection that stayed up
        self._at_least = 0.0  # the next delay's floor (after a refusal)
        self.last_delay = 0.0  # the delay chosen last (diagnostics)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt (and count that attempt)."""
        n = self.failures
        self.failures += 1
        floor, self._at_least = self._at_least, 0.0
        if n == 0:
            self.last_delay = floor
        else:
            # The exponent stops growing long before a float would overflow (a long outage).
            step = min(self.max_s, self.min_s * 2 ** min(n - 1, 40))
            self.last_delay = max(floor, step * (0.5 + 0.5 * self.rng()))
        return self.last_delay

    def connection_ended(self, lasted_s: float) -> None:
        """A connection was up ``lasted_s`` seconds: start afresh if it was a real one."""
        if lasted_s >= self.stable_s:
            self.failures = 0

    def refused(self) -> None:
        """The broker answered and refused (credentials, authorisation, banned)."""
        self._at_least = REFUSED_S
