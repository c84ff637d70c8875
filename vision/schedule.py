"""When a detector is armed: local weekdays and hours (e.g. intrusion only outside working
hours). Hours may wrap midnight (``["18:00", "07:00"]``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from box.core.model import StrictModel
from vision.settings import name_in_chinese

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Schedule(StrictModel):
    days: list[str] = Field(default_factory=lambda: list(DAYS), description="mon..sun")
    hours: tuple[str, str] | None = Field(
        default=None, description='["HH:MM", "HH:MM"] start inclusive, end exclusive; wraps'
    )

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in DAYS]
        if bad:
            raise ValueError(f"unknown day(s) {bad}: use {', '.join(DAYS)}")
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: tuple[str, str] | None) -> tuple[str, str] | None:
        import re

        if v is not None and not all(re.match(HHMM, t) for t in v):
            raise ValueError(f"hours {list(v)} must be two HH:MM times")
        return v

    def armed(self, when: datetime) -> bool:
        hhmm = when.strftime("%H:%M")
        day = DAYS[when.weekday()]
        if self.hours is None:
            return day in self.days
        start, end = self.hours
        if start <= end:
            return day in self.days and start <= hhmm < end
        # Wraps midnight: the early-morning part belongs to the previous day's shift.
        if hhmm >= start:
            return day in self.days
        prev = DAYS[(when.weekday() - 1) % 7]
        return hhmm < end and prev in self.days


name_in_chinese(Schedule)
