"""Which setpoint profile is active at a given local time (date range and/or time of day)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from box.alarms.config import Profile


def _within(value: str, start: str, end: str) -> bool:
    """Inclusive range of zero-padded strings; start > end wraps around (11-01 .. 02-28)."""
    return start <= value <= end if start <= end else value >= start or value <= end


def active_profile(profiles: Sequence[Profile], when: datetime) -> Profile | None:
    """The first profile whose dates and hours both include ``when`` (local time)."""
    mmdd = when.strftime("%m-%d")
    hhmm = when.strftime("%H:%M")
    for p in profiles:
        if p.dates and not _within(mmdd, *p.dates):
            continue
        if p.hours and not (_within(hhmm, *p.hours) and hhmm != p.hours[1]):
            continue
        return p
    return None
