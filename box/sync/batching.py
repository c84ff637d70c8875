"""When the outbox sends: event-driven and adaptive, one batch in flight at a time.

The sync thread sleeps on a :class:`Wakeup` that the store writer sets after each commit of
readings, events or records (and the transport on connect, the service on stop or a resend
request), never on a fixed polling period. Batch size then follows the load by itself:

- link idle (nothing awaiting a PUBACK): what is committed goes at once, however little;
- while a batch awaits its PUBACK, new commits pile up and go together in the next batch;
- a backlog (after an outage, or a slow link) drains in full ``batch_max_rows`` batches.

So a trickle leaves within milliseconds of its commit, and a high rate or a slow link gets
batches as big as the round trip makes them. ``batch_max_age_s`` (default 0, off) holds a
partial batch of readings or records up to that long for more rows to join it: for metered
links where fewer, bigger messages cost less.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    max_rows: int
    linger_s: float = 0.0  # batch_max_age_s

    def due(self, rows: int, oldest_ms: int, now: float) -> float:
        """Wall-clock time at which a partial batch of ``rows`` unsent rows, the oldest
        stamped ``oldest_ms``, should go; ``<= now`` means send it now."""
        if rows >= self.max_rows or self.linger_s <= 0:
            return now
        # A row stamped in the future (a device clock ahead) waits no longer than a fresh one.
        return min(oldest_ms / 1000, now) + self.linger_s


def idle_wait_s(now: float, hold_until: float | None, heartbeat_s: float) -> float:
    """How long the sync thread sleeps when there is nothing to send: until it is woken (a
    commit, a connection, a resend request, stop), a held batch falls due, or, at the latest,
    its heartbeat is due."""
    if hold_until is None:
        return heartbeat_s
    return max(0.0, min(heartbeat_s, hold_until - now))
