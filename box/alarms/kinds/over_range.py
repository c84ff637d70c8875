"""The over-range alarm (level 1, latching), always on for a channel with a ``range`` unless
``over_range = false``: configured by the channel's own keys."""

from __future__ import annotations

import math
from collections.abc import Sequence

from box.alarms.alarm import Alarm, Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, channel_alarm
from box.core.model import StrictModel


class OverRangeRule(ChannelRule):
    def __init__(self, channel: ChannelConfig) -> None:
        assert channel.range is not None  # noqa: S101 - built only for channels with a range
        self.high = channel.range[1]
        self.alarm = channel_alarm(channel, "over_range", 1, True)
        self.alarms = [self.alarm]

    def on_value(self, v: float, ts: float, now: float) -> Sequence[Transition]:
        cond = v > self.high
        alarm = self.alarm
        if cond == alarm.raw == alarm.effective:
            alarm.value = v
            return ()
        return alarm.observe(cond, now, v, range_max=self.high)

    def quiet_band(self) -> tuple[float, float, Sequence[Alarm]] | None:
        """Quiet while not over range (nor latched in): values below the range's top."""
        if self.alarm.raw or self.alarm.effective:
            return None
        return (-math.inf, self.high, self.alarms)


class OverRangeKind(ChannelKind[StrictModel]):
    name = "over_range"
    model = None

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        return [OverRangeRule(channel)] if channel.range and channel.alarms.over_range else []


KIND = OverRangeKind()
