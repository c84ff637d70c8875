"""The minimal rule stage: per-channel high/low limits with a deadband.

An event is emitted when a good value crosses a limit and when it comes back inside the limit
by more than the deadband. The full engine (levels, delays, latching) replaces this later.
"""

from __future__ import annotations

from collections.abc import Iterable

from box.config.schema import ChannelConfig
from box.readings import Quality, Reading
from box.store.events import Event, Level


class LimitStage:
    def __init__(self, channels: Iterable[ChannelConfig]) -> None:
        self.limits = {c.id: c.limit for c in channels if c.limit is not None}
        self.active: dict[tuple[str, str], bool] = {}

    def reconfigure(self, channels: Iterable[ChannelConfig]) -> None:
        """New limits; an active limit stays active (and clears normally) if still configured."""
        self.limits = {c.id: c.limit for c in channels if c.limit is not None}
        self.active = {k: v for k, v in self.active.items() if k[0] in self.limits}

    def evaluate(self, reading: Reading) -> list[Event]:
        lim = self.limits.get(reading.channel)
        value = reading.value
        if lim is None or value is None or reading.quality >= Quality.BAD:
            return []
        events: list[Event] = []
        if lim.high is not None:
            self._check(reading, "high", value >= lim.high, value < lim.high - lim.deadband,
                        lim.high, events)  # fmt: skip
        if lim.low is not None:
            self._check(reading, "low", value <= lim.low, value > lim.low + lim.deadband,
                        lim.low, events)  # fmt: skip
        return events

    def _check(
        self, r: Reading, side: str, beyond: bool, back: bool, threshold: float, out: list[Event]
    ) -> None:
        key = (r.channel, side)
        active = self.active.get(key, False)
        if not active and beyond:
            self.active[key] = True
            out.append(self._event("limit_exceeded", Level.LEVEL_2, r, side, threshold))
        elif active and back:
            self.active[key] = False
            out.append(self._event("limit_cleared", Level.INFO, r, side, threshold))

    @staticmethod
    def _event(kind: str, level: Level, r: Reading, side: str, threshold: float) -> Event:
        return Event(
            kind, f"channel:{r.channel}", r.ts_ms, level,
            {"channel": r.channel, "limit": side, "threshold": threshold, "value": r.value},
        )  # fmt: skip
