"""Slowing down password guessing without locking anybody out.

A lock per account let five wrong passwords from anywhere keep the real admin out (a denial of
service), and only existing accounts answered "too many failed logins" (which told an attacker
which names exist). Here failures count per (user name, client address) pair, existing or
not: after ``PAIR_FREE`` failures that pair waits, doubling up to ``PAIR_MAX_WAIT_S``; the same
name from another address is not slowed. An address that fails too often overall (many names)
waits a minute. A success clears its pair. In memory only, and bounded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

PAIR_FREE = 5
PAIR_FIRST_WAIT_S = 30.0
PAIR_MAX_WAIT_S = 15 * 60.0
PAIR_FORGET_S = 30 * 60.0
ADDRESS_FAILURES_PER_MINUTE = 10
MAX_TRACKED = 4096


class LoginThrottle:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._lock = threading.Lock()
        self._pairs: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, name: str, address: str) -> tuple[float, str]:
        """(seconds to wait, which limit) before this attempt may be checked; (0, "") if now."""
        now = self._now()
        with self._lock:
            recent = self._addresses.get(address)
            if recent is not None:
                while recent and recent[0] < now - 60:
                    recent.popleft()
                if len(recent) >= ADDRESS_FAILURES_PER_MINUTE:
                    return recent[0] + 60 - now, "address"
            failures, last = self._pairs.get((name.lower(), address), (0, 0.0))
        if failures < PAIR_FREE or now - last > PAIR_FORGET_S:
            return 0.0, ""
        wait = min(PAIR_FIRST_WAIT_S * 2 ** (failures - PAIR_FREE), PAIR_MAX_WAIT_S)
        left = last + wait - now
        return (left, "account") if left > 0 else (0.0, "")

    def failed(self, name: str, address: str) -> None:
        now = self._now()
        key = (name.lower(), address)
        with self._lock:
            failures, last = self._pairs.pop(key, (0, 0.0))
            if now - last > PAIR_FORGET_S:
                failures = 0
            self._pairs[key] = (failures + 1, now)
            self._addresses.setdefault(address, deque()).append(now)
            self._addresses.move_to_end(address)
            for table in (self._pairs, self._addresses):
                while len(table) > MAX_TRACKED:
                    table.popitem(last=False)

    def refused(self, address: str) -> None:
        """A try while its pair waits: it counts against the address, not the pair."""
        with self._lock:
            self._addresses.setdefault(address, deque()).append(self._now())
            self._addresses.move_to_end(address)
            while len(self._addresses) > MAX_TRACKED:
                self._addresses.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._pairs.pop((name.lower(), address), None)
