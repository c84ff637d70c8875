"""``[channels.alarms.exposure]``: STEL (15 min) and TWA (8 h) rolling averages for toxic
gases (see box/alarms/exposure.py: missing time counts as zero exposure)."""

from __future__ import annotations

from pydantic import Field

from box.alarms.alarm import Alarm, Transition
from box.alarms.config import ChannelConfig
from box.alarms.exposure import RollingAverage
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, channel_alarm
from box.core.levels import AlarmLevel
from box.core.model import StrictModel


class Exposure(StrictModel):
    """Rolling time-weighted averages for toxic gases (missing time counts as zero exposure)."""

    stel: float | None = Field(default=None, gt=0, description="15-min average limit")
    twa: float | None = Field(default=None, gt=0, description="8-h average limit")
    stel_window_s: float = Field(default=900, gt=0, le=86400)
    twa_window_s: float = Field(default=28800, gt=0, le=86400)
    level: AlarmLevel = 2
    latching: bool = False


class ExposureRule(ChannelRule):
    def __init__(self, channel: ChannelConfig, cfg: Exposure) -> None:
        hold = channel.alarms.stale_after_s
        self.limits: list[tuple[RollingAverage, float, Alarm]] = []
        for name, limit, window in (
            ("stel", cfg.stel, cfg.stel_window_s),
            ("twa", cfg.twa, cfg.twa_window_s),
        ):
            if limit is not None:
                alarm = channel_alarm(channel, name, cfg.level, cfg.latching)
                self.limits.append((RollingAverage(window, hold), limit, alarm))
        self.alarms = [a for _, _, a in self.limits]

    def on_value(self, v: float, ts: float, now: float) -> list[Transition]:
        return self._evaluate(v, ts, now)

    def tick(self, now: float) -> list[Transition]:
        return self._evaluate(None, now, now)

    def _evaluate(self, v: float | None, ts: float, now: float) -> list[Transition]:
        out: list[Transition] = []
        for avg, limit, alarm in self.limits:
            if v is not None:
                avg.add(ts, v)
            mean = avg.average(ts if v is not None else now)
            out += alarm.observe(mean >= limit, now, None, average=round(mean, 6), limit=limit)
        return out


class ExposureKind(ChannelKind[Exposure]):
    name = "exposure"
    model = Exposure

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        cfg = self.one(channel)
        return [ExposureRule(channel, cfg)] if cfg else []


KIND = ExposureKind()
