"""Checks for records a worker sends: only expected types with sane fields reach the sink.

A record is rebuilt, not trusted: unpickling bypasses ``__init__``, so the fields of a
``Reading`` can hold anything. Later record types (positions, detections) add a check here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from box.core.records import Quality, Reading

log = logging.getLogger(__name__)

Check = Callable[[Any], Any]
"""Returns the record to deliver (possibly rebuilt) or raises ``ValueError`` saying why not."""


def reading_check(channels: Mapping[str, str]) -> Check:
    """Readings on a mapped worker channel, renamed to the box channel they feed."""

    def check(r: Reading) -> Reading:
        channel = channels.get(r.channel) if isinstance(r.channel, str) else None
        if channel is None:
            raise ValueError(f"channel {r.channel!r} is not in the driver's channels")
        if type(r.ts_ms) is not int or r.ts_ms <= 0:
            raise ValueError(f"ts_ms {r.ts_ms!r} is not a positive int")
        if not isinstance(r.quality, Quality):
            raise ValueError(f"quality {r.quality!r} is not a Quality")
        value = r.value
        if value is None:
            if r.quality == Quality.GOOD:
                raise ValueError("value None with quality GOOD")
        elif type(value) not in (int, float) or not math.isfinite(value):
            raise ValueError(f"value {value!r} is not a finite number")
        else:
            value = float(value)
        return Reading(channel, r.ts_ms, value, r.quality)

    return check


class GarbageLog:
    """Counts rejected items; logs the first few and then one in ``every``, so a worker that
    sends only garbage cannot flood the log."""

    def __init__(self, driver: str, first: int = 10, every: int = 1000) -> None:
        self.driver = driver
        self.count = 0
        self.last = ""
        self._first, self._every = first, every

    def add(self, reason: str) -> None:
        self.count += 1
        self.last = reason
        if self.count <= self._first or self.count % self._every == 0:
            log.warning(
                "driver %s: rejected from worker (%d so far): %s", self.driver, self.count, reason
            )
