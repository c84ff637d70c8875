"""Parse the times a technician types: ISO 8601, a date, epoch milliseconds, or an age such as
'2h', '2h ago' or '30 min ago'."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Unit words people type, each to its length in seconds ("m" is minutes, as in 30m).
_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+)$")
_AGO = re.compile(r"\s+ago$")
TIME_FORMS = (
    "ISO 8601 (2026-11-23T08:00, 2026-11-23, 2026-11-23T08:00Z), epoch milliseconds "
    "(1790000000000), 'now', or an age such as 30m, 2h, '2h ago', '30 min ago', '1d ago'"
)
"""The accepted forms, for help texts and error messages (one wording everywhere)."""


def _amount_s(text: str) -> float | None:
    """Seconds in '90s', '30 min', '2 hours'; None if ``text`` is not such an amount."""
    m = _AMOUNT.match(text.lower())
    if not m or m.group(2) not in _UNITS:
        return None
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_time_ms(text: str, now_ms: int) -> int:
    """Epoch ms from ``text``. Times without a zone are the box's local time.

    Raises ValueError naming the accepted forms.
    """
    text = text.strip()
    if text.lower() == "now":
        return now_ms
    age_s = _amount_s(_AGO.sub("", text.lower()))
    if age_s is not None:
        return now_ms - int(age_s * 1000)
    if text.isdigit() and len(text) >= 12:
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use {TIME_FORMS}") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # local time of the box
    return int(dt.timestamp() * 1000)


def parse_duration_s(text: str) -> float:
    """Seconds from '90', '90s', '30m', '30 min', '2h' or '1d'; raises ValueError naming the
    forms."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    seconds = _amount_s(text)
    if seconds is None:
        raise ValueError(f"{text!r} is not a duration: use e.g. 90s, 30m, 2h or 1d")
    return seconds


def iso_utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
