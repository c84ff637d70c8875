"""``[[channels.alarms.sustained]]``: 'above X for D' (or below), e.g. a motor above 80 °C
for 3 hours. The start of the condition is persisted, so a restart does not reset D."""

from __future__ import annotations

from pydantic import Field, model_validator

from box.alarms.alarm import Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, Persist, channel_alarm
from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel


class Sustained(StrictModel):
    """'above X for D' (or below): e.g. motor temperature above 80 °C for 3 hours."""

    name: Identifier = "sustained"
    above: float | None = None
    below: float | None = None
    for_s: float = Field(gt=0, le=30 * 86400)
    level: AlarmLevel = 3
    latching: bool = False

    @model_validator(mode="after")
    def _one_side(self) -> Sustained:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self


class SustainedRule(ChannelRule):
    def __init__(
        self, channel: ChannelConfig, cfg: Sustained, persist: Persist, saved: str | None
    ) -> None:
        self.cfg = cfg
        self.persist = persist
        self.key = f"sustained.{channel.id}:{cfg.name}"
        self.since = float(saved) if saved else None
        self.alarm = channel_alarm(channel, cfg.name, cfg.level, cfg.latching)
        self.alarms = [self.alarm]

    def on_value(self, v: float, ts: float, now: float) -> list[Transition]:
        c = self.cfg
        beyond = v > c.above if c.above is not None else v < c.below  # type: ignore[operator]
        if beyond and self.since is None:
            self.since = ts
            self.persist(self.key, repr(ts))
        elif not beyond and self.since is not None:
            self.since = None
            self.persist(self.key, None)
        return self._observe(now, v)

    def tick(self, now: float) -> list[Transition]:
        return self._observe(now, None)

    def saved_state(self) -> dict[str, str]:
        return {self.key: repr(self.since)} if self.since is not None else {}

    def _observe(self, now: float, v: float | None) -> list[Transition]:
        if self.since is not None and self.since > now:
            self.since = now  # the clock stepped back: restart the duration, don't stretch it
            self.persist(self.key, repr(now))
        cond = self.since is not None and now - self.since >= self.cfg.for_s
        return self.alarm.observe(cond, now, v, since=self.since, for_s=self.cfg.for_s)


class SustainedKind(ChannelKind[Sustained]):
    name = "sustained"
    model = Sustained
    many = True

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        return [
            SustainedRule(
                channel, s, ctx.persist, ctx.saved.get(f"sustained.{channel.id}:{s.name}")
            )
            for s in self.items(channel)
        ]


KIND = SustainedKind()
