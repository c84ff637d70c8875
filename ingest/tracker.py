"""Per box and stream sequence tracking (docs/MQTT.md "Sequences, duplicates, gaps").

Batches tile each stream's sequence. ``covered`` is the highest sequence below which
everything arrived; batches past a hole wait in ``ahead`` until it fills. A batch inside what
arrived already is a duplicate (a redelivery or a resend). A hole is not a gap: only the box
names gaps (``evicted``: rows its retention removed before they were sent); a hole that stays
open is shown as missing rows (metrics, ``holes``) and can be asked for with ``resend``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SeqState:
    covered: int = 0
    ahead: list[tuple[int, int]] = field(default_factory=list)  # sorted, disjoint

    def is_duplicate(self, first: int, last: int) -> bool:
        if last <= self.covered:
            return True
        return any(f <= first and last <= t for f, t in self.ahead)

    def add(self, first: int, last: int) -> None:
        """Record that ``first..last`` arrived (callers check is_duplicate first)."""
        spans = sorted([*self.ahead, (max(first, self.covered + 1), last)])
        merged: list[tuple[int, int]] = []
        for f, t in spans:
            if merged and f <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], t))
            else:
                merged.append((f, t))
        if merged and merged[0][0] <= self.covered + 1:
            self.covered = max(self.covered, merged.pop(0)[1])
        self.ahead = merged

    def holes(self) -> list[tuple[int, int]]:
        out, pos = [], self.covered
        for f, t in self.ahead:
            out.append((pos + 1, f - 1))
            pos = t
        return out

    def missing(self) -> int:
        return sum(t - f + 1 for f, t in self.holes())

    def not_received(self, first: int, last: int) -> list[tuple[int, int]]:
        """The parts of ``first..last`` not received yet (an ``evicted`` range names a loss only
        there: what arrived earlier is no loss)."""
        out: list[tuple[int, int]] = []
        pos = max(first, self.covered + 1)
        for f, t in self.ahead:
            if pos > last:
                break
            if f > pos:
                out.append((pos, min(f - 1, last)))
            pos = max(pos, t + 1)
        if pos <= last:
            out.append((pos, last))
        return out
