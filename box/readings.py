"""The record every driver emits: one value of one channel at one instant, with its quality."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum


class Quality(IntEnum):
    """How far a value can be trusted; stored as a small integer."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2
    STALE = 3


@dataclass(slots=True, frozen=True)
class Reading:
    """A value read from a device. ``ts_ms`` is the time of the read (UTC, ms), not of processing.

    ``value`` is None when nothing trustworthy was read: drivers never invent values.
    """

    channel: str
    ts_ms: int
    value: float | None
    quality: Quality = Quality.GOOD


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def shown_quality(reading: Reading | None, at_ms: int, stale_after_s: float) -> str:
    """The quality to show for a channel's last reading at ``at_ms``: older than the channel's
    ``stale_after_s`` it is "stale", so a silent channel's last value never looks current."""
    if reading is None or at_ms - reading.ts_ms >= stale_after_s * 1000:
        return "stale"
    return Quality(reading.quality).name.lower()
