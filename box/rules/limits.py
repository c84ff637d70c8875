"""The minimal rule stage: per-channel high/low limits with a deadband.

An event is emitted when a good value crosses a limit and when it comes back inside the limit
by more than the deadband. The full engine (levels, delays, latching) replaces this later.
This runs for every reading, so the thresholds are precomputed per channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from box.config.schema import ChannelConfig
from box.readings import Quality, Reading
from box.store.events import Event, Level

_INF = float("inf")


class _ChannelLimits:
    """Thresholds of one channel and whether each side is active (mutable, one per channel)."""

    __slots__ = ("high", "high_clear", "low", "low_clear", "high_active", "low_active")

    def __init__(self, cfg: ChannelConfig) -> None:
        lim = cfg.limit
        assert lim is not None  # noqa: S101 - only built for channels with a limit
        self.high = lim.high if lim.high is not None else _INF
        self.high_clear = self.high - lim.deadband
        self.low = lim.low if lim.low is not None else -_INF
        self.low_clear = self.low + lim.deadband
        self.high_active = False
        self.low_active = False


class LimitStage:
    def __init__(self, channels: Iterable[ChannelConfig]) -> None:
        self.limits: dict[str, _ChannelLimits] = {}
        self.reconfigure(channels)

    def reconfigure(self, channels: Iterable[ChannelConfig]) -> None:
        """New limits; a side that is active stays active (and clears normally) if still set."""
        new = {c.id: _ChannelLimits(c) for c in channels if c.limit is not None}
        for cid, lim in new.items():
            old = self.limits.get(cid)
            if old is not None:
                lim.high_active = old.high_active and lim.high != _INF
                lim.low_active = old.low_active and lim.low != -_INF
        self.limits = new

    def active_sides(self, channel: str) -> list[str]:
        lim = self.limits.get(channel)
        if lim is None:
            return []
        return [side for side, on in (("high", lim.high_active), ("low", lim.low_active)) if on]

    def evaluate(self, reading: Reading) -> list[Event]:
        out: list[Event] = []
        self.evaluate_batch((reading,), out)
        return out

    def evaluate_batch(self, batch: Sequence[Reading], out: list[Event]) -> None:
        """Append the events that ``batch`` causes to ``out``."""
        limits = self.limits
        bad = Quality.BAD
        for r in batch:
            lim = limits.get(r.channel)
            if lim is None:
                continue
            v = r.value
            if v is None or r.quality >= bad:
                continue
            if lim.high_active:
                if v < lim.high_clear:
                    lim.high_active = False
                    out.append(_event("limit_cleared", Level.INFO, r, "high", lim.high))
            elif v >= lim.high:
                lim.high_active = True
                out.append(_event("limit_exceeded", Level.LEVEL_2, r, "high", lim.high))
            if lim.low_active:
                if v > lim.low_clear:
                    lim.low_active = False
                    out.append(_event("limit_cleared", Level.INFO, r, "low", lim.low))
            elif v <= lim.low:
                lim.low_active = True
                out.append(_event("limit_exceeded", Level.LEVEL_2, r, "low", lim.low))


def _event(kind: str, level: Level, r: Reading, side: str, threshold: float) -> Event:
    return Event(
        kind, f"channel:{r.channel}", r.ts_ms, level,
        {"channel": r.channel, "limit": side, "threshold": threshold, "value": r.value},
    )  # fmt: skip
