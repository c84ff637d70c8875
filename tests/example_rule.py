"""A third-party rule kind, as another package would ship it: a stuck sensor.

``[channels.alarms.frozen]`` alarms (id ``CHANNEL:frozen``) when the value has not moved by
more than ``epsilon`` for ``for_s`` seconds. Registered with one entry-point line:
``safetybox.rules = frozen = tests.example_rule:KIND``.
"""

from __future__ import annotations

from pydantic import Field

from box.alarms.alarm import Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, channel_alarm
from box.core.levels import AlarmLevel
from box.core.model import StrictModel


class Frozen(StrictModel):
    epsilon: float = Field(default=0.0, ge=0, description="a change of at most this is no change")
    for_s: float = Field(gt=0, le=7 * 86400, description="unchanged this long: stuck")
    level: AlarmLevel = 3
    latching: bool = False


class FrozenRule(ChannelRule):
    def __init__(self, channel: ChannelConfig, cfg: Frozen) -> None:
        self.cfg = cfg
        self.ref: float | None = None  # the value the channel is stuck at, if it is
        self.since = 0.0
        self.alarm = channel_alarm(channel, "frozen", cfg.level, cfg.latching, kind="fault")
        self.alarms = [self.alarm]

    def on_value(self, v: float, ts: float, now: float) -> list[Transition]:
        if self.ref is None or abs(v - self.ref) > self.cfg.epsilon:
            self.ref, self.since = v, ts
        return self.tick(now)

    def tick(self, now: float) -> list[Transition]:
        stuck = self.ref is not None and now - self.since >= self.cfg.for_s
        return self.alarm.observe(stuck, now, None, unchanged_since=self.since)


class FrozenKind(ChannelKind[Frozen]):
    name = "frozen"
    model = Frozen
    description = "a stuck sensor: the value has not changed"

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        cfg = self.one(channel)
        return [FrozenRule(channel, cfg)] if cfg else []


KIND = FrozenKind()
