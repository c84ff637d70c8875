"""Positions are stored compactly: a tag's position is kept when it moved at least
``position_min_move_m`` from the last one stored, or ``position_every_s`` after it, and always
when its quality, SOS flag or battery changes band. A standing worker costs one row per N s,
a walking one a row per half metre; trajectories stay faithful to the stored resolution and the
live rules still see every update (they are subscribed separately)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from box.core.records import Position
from box.store.config import StoreSection


class _Writer(Protocol):
    settings: StoreSection

    def submit_records(self, batch: Sequence[Position]) -> bool: ...


class PositionThinner:
    def __init__(self, writer: _Writer) -> None:
        self.writer = writer
        self.last: dict[str, Position] = {}  # last stored per tag
        self.seen = 0
        self.stored = 0

    def __call__(self, batch: Sequence[Position]) -> None:
        s = self.writer.settings
        move2 = s.position_min_move_m**2
        every_ms = s.position_every_s * 1000
        last = self.last
        keep: list[Position] = []
        for p in batch:
            prev = last.get(p.tag)
            if (
                prev is None
                or p.ts_ms - prev.ts_ms >= every_ms
                or (p.x - prev.x) ** 2 + (p.y - prev.y) ** 2 + (p.z - prev.z) ** 2 >= move2
                or p.sos != prev.sos
                or p.quality != prev.quality
                or p.ts_ms < prev.ts_ms  # a clock step back: keep it, never hide it
            ):
                last[p.tag] = p
                keep.append(p)
        self.seen += len(batch)
        if keep:
            self.stored += len(keep)
            self.writer.submit_records(keep)
