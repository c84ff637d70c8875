"""``[channels.alarms.thresholds]``: up to four levels with hysteresis, rising or falling.

The engine also uses this kind for operator setpoint changes and for setpoint profiles.

Defence in depth, as a gas controller does: when the device reports its own alarm bits
(``Reading.device_alarm``), a device alarm raises the box's level of that name whatever the
decoded value says (a wrong word order can turn 0.35 %CH4 into 4e-08), and a disagreement
between the device's bits and the box's own evaluation that lasts ``MISMATCH_DELAY_S`` is a
fault (``CHANNEL:device_mismatch``) that says what to check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import Field, model_validator

from box.alarms.alarm import Alarm, Transition
from box.alarms.config import AlarmsConfig, ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, RuleIssue, channel_alarm
from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel

Direction = Literal["rising", "falling"]
MISMATCH_DELAY_S = 5.0  # absorbs a device whose own setpoints differ a little from the box's
MISMATCH = "device_mismatch"


class ThresholdLevel(StrictModel):
    name: Identifier = Field(description="e.g. A1, A2")
    at: float
    level: AlarmLevel = 2
    latching: bool = False
    direction: Direction | None = Field(
        default=None,
        description="this level's direction (default: the thresholds' direction); "
        "O2: LO falling and HI rising on one channel",
    )


def order_problem(levels: list[tuple[str, float, bool]]) -> str | None:
    """Why (name, at, rising) levels are not a valid ladder, or None.

    Per direction, the listed order is the order of severity: rising 'at' strictly increase,
    falling 'at' strictly decrease. Every falling level lies below every rising one, so no
    value can be too low and too high at once.
    """
    rising = [at for _, at, up in levels if up]
    falling = [at for _, at, up in levels if not up]
    if rising != sorted(set(rising)):
        return f"rising thresholds need strictly increasing 'at': {rising}"
    if falling != sorted(set(falling), reverse=True):
        return f"falling thresholds need strictly decreasing 'at': {falling}"
    if rising and falling and max(falling) >= min(rising):
        return f"falling levels {falling} must all be below the rising levels {rising}"
    return None


class Thresholds(StrictModel):
    """Up to four levels on one channel, each rising (gas, temperature, pressure) or falling
    (O2 deficiency); O2 mixes falling LO/LOLO and rising HI/HIHI levels."""

    direction: Direction = Field(default="rising", description="the levels' default direction")
    levels: list[ThresholdLevel] = Field(min_length=1, max_length=4)
    deadband: float = Field(default=0.0, ge=0, description="absolute hysteresis")
    deadband_pct: float | None = Field(default=None, ge=0, le=50, description="% of full scale")
    on_delay_s: float = Field(default=0, ge=0, le=3600)
    off_delay_s: float = Field(default=0, ge=0, le=3600)

    def rising(self, lv: ThresholdLevel) -> bool:
        return (lv.direction or self.direction) == "rising"

    def ladder(self, ats: dict[str, float] | None = None) -> list[tuple[str, float, bool]]:
        """(name, at, rising) per level, with 'at' taken from ``ats`` where given."""
        ats = ats or {}
        return [(lv.name, ats.get(lv.name, lv.at), self.rising(lv)) for lv in self.levels]

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must be unique, got {names}")
        problem = order_problem(self.ladder())
        if problem:
            raise ValueError(problem)
        if self.deadband and self.deadband_pct is not None:
            raise ValueError("give deadband or deadband_pct, not both")
        return self


class ThresholdRule(ChannelRule):
    """Within one direction a more severe level implies the less severe ones (LOLO implies
    LO, A2 implies A1)."""

    def __init__(self, channel: ChannelConfig, cfg: Thresholds) -> None:
        self.cfg = cfg
        deadband = cfg.deadband
        if cfg.deadband_pct is not None and channel.range is not None:
            deadband = cfg.deadband_pct / 100 * (channel.range[1] - channel.range[0])
        self.deadband = deadband
        self.names = [lv.name for lv in cfg.levels]
        self.base = {lv.name: lv.at for lv in cfg.levels}
        self.at = dict(self.base)
        self._ats = [self.at[n] for n in self.names]
        self._rising = [cfg.rising(lv) for lv in cfg.levels]
        # Most severe first within each direction, so that implication runs down each ladder.
        self._ladders = [
            [i for i in range(len(self.names) - 1, -1, -1) if self._rising[i] == up]
            for up in (True, False)
        ]
        self.alarms = [
            channel_alarm(
                channel,
                lv.name,
                lv.level,
                lv.latching,
                on_delay_s=cfg.on_delay_s,
                off_delay_s=cfg.off_delay_s,
            )
            for lv in cfg.levels
        ]
        self._beyond = [False] * len(cfg.levels)
        self._device = [False] * len(cfg.levels)  # levels the device itself signals
        self._device_fresh = False  # the current reading carried the device's bits
        self._device_seen = False  # this channel's device ever reported its bits
        self._device_name = ""
        self.channel = channel
        self.mismatch = channel_alarm(
            channel,
            MISMATCH,
            3,
            False,
            kind="fault",
            on_delay_s=MISMATCH_DELAY_S,
            off_delay_s=MISMATCH_DELAY_S,
        )
        self.alarms.append(self.mismatch)
        self._band_changed: Callable[[], None] = _nothing

    def set_points(self, points: dict[str, float] | None) -> None:
        """Apply a profile's setpoints (None restores the configured ones)."""
        self.at = {**self.base, **(points or {})}
        self._ats = [self.at[n] for n in self.names]
        self._band_changed()

    def watch_band(self, changed: Callable[[], None]) -> None:
        self._band_changed = changed

    def quiet_band(self) -> tuple[float, float, Sequence[Alarm]] | None:
        """Quiet while no level is beyond its setpoint and none is raised, pending or
        clearing: then a value short of every setpoint (below the rising ones, above the
        falling ones) only becomes the levels' value. Device bits take the full path."""
        if self._device_seen or any(self._beyond):
            return None
        levels = self.alarms[: len(self.names)]
        if any(a.raw or a.effective for a in levels):
            return None
        rising = [at for at, up in zip(self._ats, self._rising, strict=True) if up]
        falling = [at for at, up in zip(self._ats, self._rising, strict=True) if not up]
        return (max(falling, default=-math.inf), min(rising, default=math.inf), levels)

    def order_problem(self, ats: dict[str, float]) -> str | None:
        """Why these 'at' values (merged over the configured ones) would break the ladder."""
        return order_problem(self.cfg.ladder({**self.base, **ats}))

    def on_value(self, v: float, ts: float, now: float) -> list[Transition]:
        # Raise at the setpoint (>= rising, <= falling); clear only strictly past the deadband.
        db = self.deadband
        beyond = self._beyond
        for i, at in enumerate(self._ats):
            if self._rising[i]:
                beyond[i] = v >= (at - db if beyond[i] else at)
            else:
                beyond[i] = v <= (at + db if beyond[i] else at)
        if not self._device_seen:  # no device bits on this channel (most): the hot path
            out: list[Transition] = []
            for ladder in self._ladders:
                implied = False
                for i in ladder:
                    implied = implied or beyond[i]
                    alarm = self.alarms[i]
                    if implied == alarm.raw == alarm.effective:
                        alarm.value = v  # steady state: nothing to decide
                        continue
                    out += alarm.observe(implied, now, v, threshold=self.at[self.names[i]])
            return out
        out = self._decide(v, now)
        if self._device_fresh:
            self._device_fresh = False
            out += self._compare(v, now)
        return out

    def _decide(self, v: float | None, now: float) -> list[Transition]:
        beyond, device = self._beyond, self._device
        out: list[Transition] = []
        for ladder in self._ladders:
            implied = False
            for i in ladder:
                implied = implied or beyond[i] or device[i]
                alarm = self.alarms[i]
                if implied == alarm.raw == alarm.effective:
                    if v is not None:
                        alarm.value = v  # steady state: nothing to decide (the hot path)
                    continue
                detail: dict[str, object] = {"threshold": self.at[self.names[i]]}
                if device[i] and not beyond[i]:
                    detail.update(cause="device_alarm", device_alarm=self._device_name)
                out += alarm.observe(implied, now, v, **detail)
        return out

    def on_device(self, name: str, value_follows: bool, now: float) -> list[Transition]:
        """The device's own alarm state with this reading ("" none, else a level name such as
        "A1"). ``value_follows``: a good value comes next (then :meth:`on_value` decides);
        otherwise the device's word decides alone, since a bad value must not hide it."""
        self._device_name = name
        self._device_seen = True
        asserted = self._device_index(name)
        self._device = [i == asserted for i in range(len(self.names))]
        if asserted is not None:  # the device's level implies the milder ones of its ladder
            for ladder in self._ladders:
                if asserted in ladder:
                    for i in ladder[ladder.index(asserted) :]:
                        self._device[i] = True
        self._device_fresh = value_follows
        return [] if value_follows else self._decide(None, now)

    def _device_index(self, name: str) -> int | None:
        if not name:
            return None
        if name in self.names:
            return self.names.index(name)
        rising = self._ladders[0] or self._ladders[1]  # most severe first
        return rising[0] if name.upper().endswith("2") else rising[-1]

    def _compare(self, v: float, now: float) -> list[Transition]:
        """Fault when the device's bits and the box's own evaluation of the value disagree."""
        box = next((self.names[i] for lad in self._ladders for i in lad if self._beyond[i]), "")
        device = self._device_name
        same = (box == "") == (device == "") and (
            not box or self._device_index(device) == self.names.index(box)
        )
        if same:
            return self.mismatch.observe(False, now, v) if self.mismatch.raw else []
        unit = self.channel.unit
        if device:
            why = (
                f"the device signals {device} but the box reads {v:.6g} {unit} (no {device}): "
                "check the profile's word order, scale and unit "
                f"(safetybox sensors verify {self.channel.id} --test-gas ...)"
            )
        else:
            why = (
                f"the box reads {v:.6g} {unit} ({box}) but the device signals no alarm: "
                "check the device's setpoints (sensors set) and the profile's scale and unit"
            )
        return self.mismatch.observe(True, now, v, device_alarm=device, box=box, reason=why)


class ThresholdsKind(ChannelKind[Thresholds]):
    name = "thresholds"
    model = Thresholds

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        cfg = self.one(channel)
        return [ThresholdRule(channel, cfg)] if cfg else []

    def check_channel(self, channel: ChannelConfig) -> str | None:
        cfg = self.one(channel)
        if cfg and cfg.deadband_pct and not channel.range:
            return "alarms.thresholds.deadband_pct needs the channel's range"
        if cfg and channel.range:
            lo, hi = channel.range
            for i, lv in enumerate(cfg.levels):
                if not lo <= lv.at <= hi:
                    return (
                        f"alarms.thresholds.levels[{i}].at = {lv.at} is outside the channel's "
                        f"range [{lo}, {hi}]: that level could never be reached"
                    )
        return None

    def check(self, config: AlarmsConfig) -> list[RuleIssue]:
        """Profiles name channels with thresholds, their levels, and keep the ladders ordered."""
        issues: list[RuleIssue] = []
        ladders = {ch.id: th for ch in config.channels if ch is not None and (th := self.one(ch))}
        levels = {cid: {lv.name: lv.at for lv in th.levels} for cid, th in ladders.items()}
        for p, profile in enumerate(config.profiles):
            if profile is None:
                continue
            for channel, points in profile.setpoints.items():
                path = ("profiles", p, "setpoints", channel)
                if channel not in levels:
                    issues.append(RuleIssue(path, channel, "not a channel with thresholds"))
                    continue
                unknown = set(points) - set(levels[channel])
                if unknown:
                    issues.append(RuleIssue(path, points, f"unknown level(s) {sorted(unknown)}"))
                    continue
                span = next((c.range for c in config.channels if c and c.id == channel), None)
                outside = [v for v in points.values() if span and not span[0] <= v <= span[1]]
                if outside:
                    reason = f"setpoint(s) {outside} outside the channel's range {list(span or ())}"
                    issues.append(RuleIssue(path, points, reason))
                    continue
                problem = order_problem(ladders[channel].ladder(points))
                if problem:
                    merged = [points.get(name, at) for name, at in levels[channel].items()]
                    reason = (
                        f"with these setpoints the levels are no longer strictly ordered: {merged}"
                    )
                    issues.append(RuleIssue(path, points, f"{reason} ({problem})"))
        return issues


KIND = ThresholdsKind()


def _nothing() -> None:
    pass
