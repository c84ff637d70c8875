"""What every parser yields: one located tag in its positioning system's own frame."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Fix:
    """A tag's position in the positioning system's frame (metres), before the site transform.

    ``quality`` is the system's own quality figure in percent (DWM1001 qf, LinkTrack's
    estimated error mapped to none), ``battery`` in percent or volts as the source gives it
    (``battery_v``), ``sos`` a button pressed on the tag (JSON sources only)."""

    tag: str
    x: float
    y: float
    z: float = 0.0
    quality: float | None = None
    battery: float | None = None
    battery_v: float | None = None
    sos: bool = False
    ts_ms: int | None = None  # when the source stamps it; else the time of receipt
