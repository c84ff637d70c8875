"""``[[channels.alarms.rate]]``: a rise of ``rise`` units within ``within_s`` seconds."""

from __future__ import annotations

from collections import deque

from pydantic import Field

from box.alarms.alarm import Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, channel_alarm
from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel


class RateOfChange(StrictModel):
    name: Identifier = "rate"
    rise: float = Field(gt=0, description="alarm when the value rises this much ...")
    within_s: float = Field(gt=0, le=3600, description="... within this many seconds")
    level: AlarmLevel = 2
    latching: bool = False


class RateRule(ChannelRule):
    """The window minimum is kept in O(1) amortised (a deque of increasing values)."""

    def __init__(self, channel: ChannelConfig, cfg: RateOfChange) -> None:
        self.cfg = cfg
        self.window: deque[tuple[float, float]] = deque()  # increasing values: candidate minima
        self.alarm = channel_alarm(channel, cfg.name, cfg.level, cfg.latching)
        self.alarms = [self.alarm]

    def on_value(self, v: float, ts: float, now: float) -> list[Transition]:
        w = self.window
        while w and w[-1][1] >= v:
            w.pop()
        w.append((ts, v))
        while w[0][0] < ts - self.cfg.within_s:
            w.popleft()
        rise = v - w[0][1]
        return self.alarm.observe(rise >= self.cfg.rise, now, v, rise=round(rise, 6))


class RateKind(ChannelKind[RateOfChange]):
    name = "rate"
    model = RateOfChange
    many = True

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        return [RateRule(channel, r) for r in self.items(channel)]


KIND = RateKind()
