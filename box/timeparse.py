"""Parse the times a technician types: ISO 8601, a date, epoch milliseconds, or '2h' ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time_ms(text: str, now_ms: int) -> int:
    """Epoch ms from ``text``. Times without a zone are the box's local time.

    Raises ValueError naming the accepted forms.
    """
    text = text.strip()
    m = _AGO.match(text)
    if m:
        return now_ms - int(float(m.group(1)) * _UNIT_S[m.group(2)] * 1000)
    if text.isdigit() and len(text) >= 12:
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-11-23T08:00, 2026-11-23, "
            "2026-11-23T08:00Z), epoch milliseconds, or an age such as 30m, 2h, 7d"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # local time of the box
    return int(dt.timestamp() * 1000)


def parse_duration_s(text: str) -> float:
    """Seconds from '90', '90s', '30m', '2h' or '1d'; raises ValueError naming the forms."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    m = _AGO.match(text)
    if not m or m.group(2) == "w":
        raise ValueError(f"{text!r} is not a duration: use e.g. 90s, 30m, 2h or 1d")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def iso_utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
