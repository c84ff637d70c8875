"""Resends asked for by the platform (downlink ``resend``): ranges sent before, sent again as
historical batches interleaved with live data, never instead of it.

Only what was sent can be re-sent: a request is clipped to the stream's cursor (rows beyond
go as live data anyway) and, for readings, the part of a backfill range not sent yet is left
out (it goes anyway). The reply says exactly which ranges will go. Pending ranges are kept in
the store's state, so a restart continues them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

STATE_RESEND = "sync.resend"
MAX_PENDING = 64  # ranges waiting; more requests are refused until some are sent
STREAMS = ("events", "readings")


class ResendRefused(ValueError):
    """A resend that cannot be queued (too many pending); the message says why."""


@dataclass
class Range:
    stream: str
    next: int  # first id/seq still to send again
    last: int

    def as_list(self) -> list[Any]:
        return [self.stream, self.next, self.last]


class Resends:
    def __init__(self, saved: str | None = None) -> None:
        self.ranges: list[Range] = []
        if saved:
            self.ranges = [Range(str(s), int(a), int(b)) for s, a, b in json.loads(saved)]

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def state(self) -> dict[str, str]:
        return {STATE_RESEND: json.dumps([r.as_list() for r in self.ranges])}

    def request(
        self,
        stream: str,
        first: int,
        last: int,
        sent_upto: int,
        unsent: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """Queue what of ``first..last`` was sent (up to ``sent_upto``, minus the ``unsent``
        range still to go); returns the plan for the reply."""
        if stream not in STREAMS:
            raise ResendRefused(f"cannot resend stream {stream!r}")
        end = min(last, sent_upto)
        ranges: list[tuple[int, int]] = []
        if first <= end:
            ranges = [(first, end)]
            if unsent is not None:
                ranges = _minus(ranges, unsent)
        if len(self.ranges) + len(ranges) > MAX_PENDING:
            raise ResendRefused(
                f"{len(self.ranges)} resend ranges are pending: wait for them before asking more"
            )
        self.ranges.extend(Range(stream, a, b) for a, b in ranges)
        plan: dict[str, Any] = {
            "stream": stream,
            "requested": [first, last],
            "resend": [list(r) for r in ranges],  # inclusive ranges, sent as historical batches
            "not_sent_yet": None,
        }
        if last > sent_upto:
            plan["not_sent_yet"] = [max(first, sent_upto + 1), last]  # these go as live data
        return plan

    def head(self) -> Range | None:
        return self.ranges[0] if self.ranges else None

    def advanced(self, stream: str, first: int, last: int) -> dict[str, str]:
        """A resend batch of ``first..last`` was acknowledged."""
        r = self.head()
        if r is not None and r.stream == stream and r.next == first:
            r.next = last + 1
            if r.next > r.last:
                self.ranges.pop(0)
        return self.state()


def _minus(ranges: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    for a, b in ranges:
        if cut[1] < a or cut[0] > b:
            out.append((a, b))
            continue
        if a < cut[0]:
            out.append((a, cut[0] - 1))
        if b > cut[1]:
            out.append((cut[1] + 1, b))
    return out
