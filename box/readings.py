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
    ``reason`` says why in words, for a bad reading ("warming up", "sensor open circuit"); it
    reaches the channel's fault alarm and is not stored with the value.
    """

    channel: str
    ts_ms: int
    value: float | None
    quality: Quality = Quality.GOOD
    reason: str = ""


def now_ms() -> int:
    return time.time_ns() // 1_000_000
