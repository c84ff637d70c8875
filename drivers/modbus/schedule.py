"""When a device on a bus is next due, after a poll that may have started late or run long.

Each device keeps a grid of slots ``interval_s`` apart (its phase set at start, so devices stay
spread over the bus). A poll serves the slot nearest to when it started; every other slot that
passed before the poll ended is skipped and counted, never queued. So a unit is never polled
again less than half an interval after its last poll started, however busy the bus.
"""

from __future__ import annotations

import math


def next_slot(due: float, interval: float, started: float, finished: float) -> tuple[float, int]:
    """(the next due time, slots skipped) for a poll of the slot ``due`` that ran on the bus
    from ``started`` to ``finished``."""
    late = max(0.0, started - due)
    served = math.floor(late / interval + 0.5)  # the slot this poll stands for
    after = max(0, math.floor((finished - (due + served * interval)) / interval))
    return due + interval * (served + 1 + after), served + after
