"""Config models of the alarm engine: per-channel rules, votes, profiles, outputs and inputs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import Field, field_validator, model_validator

from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel

Delay = float  # seconds; bounds are set per field


Direction = Literal["rising", "falling"]


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


class RateOfChange(StrictModel):
    name: Identifier = "rate"
    rise: float = Field(gt=0, description="alarm when the value rises this much ...")
    within_s: float = Field(gt=0, le=3600, description="... within this many seconds")
    level: AlarmLevel = 2
    latching: bool = False


class Exposure(StrictModel):
    """Rolling time-weighted averages for toxic gases (missing time counts as zero exposure)."""

    stel: float | None = Field(default=None, gt=0, description="15-min average limit")
    twa: float | None = Field(default=None, gt=0, description="8-h average limit")
    stel_window_s: float = Field(default=900, gt=0, le=86400)
    twa_window_s: float = Field(default=28800, gt=0, le=86400)
    level: AlarmLevel = 2
    latching: bool = False


class ChannelAlarms(StrictModel):
    """Everything that can raise an alarm on one channel."""

    thresholds: Thresholds | None = None
    over_range: bool = Field(default=True, description="alarm (level 1) beyond the range")
    sustained: list[Sustained] = Field(default_factory=list)
    rate: list[RateOfChange] = Field(default_factory=list)
    exposure: Exposure | None = None
    stale_after_s: float = Field(default=60, ge=1, le=86400)
    escalate_after_s: float = Field(default=3600, ge=60, le=7 * 86400)
    fault_level: AlarmLevel = 3


class Vote(StrictModel):
    """k-out-of-n: alarm when at least k of the channels have threshold level ``threshold``."""

    id: Identifier
    name: str = ""
    channels: list[str] = Field(min_length=2)
    k: int = Field(ge=1)
    threshold: Identifier = Field(description="level name counted on each channel, e.g. A1")
    level: AlarmLevel = 1
    latching: bool = True

    @model_validator(mode="after")
    def _k_le_n(self) -> Vote:
        if self.k > len(self.channels):
            raise ValueError(f"k = {self.k} is more than the {len(self.channels)} channels")
        return self


_MMDD = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Profile(StrictModel):
    """Setpoints active by date range (MM-DD, inclusive, may wrap the year) and/or time of day."""

    name: Identifier
    dates: tuple[str, str] | None = None
    hours: tuple[str, str] | None = None
    setpoints: dict[str, dict[str, float]] = Field(
        description='channel -> {level name -> at}, e.g. "tank1.lel" = { A1 = 20, A2 = 40 }'
    )

    @field_validator("dates")
    @classmethod
    def _dates(cls, v: tuple[str, str] | None) -> tuple[str, str] | None:
        if v is not None and not all(_MMDD.match(d) for d in v):
            raise ValueError(f"dates must be two MM-DD values, got {list(v)}")
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: tuple[str, str] | None) -> tuple[str, str] | None:
        if v is not None and not all(_HHMM.match(h) for h in v):
            raise ValueError(f"hours must be two HH:MM values, got {list(v)}")
        return v


class PinOutput(StrictModel):
    pin: int | str
    active_high: bool = True


class SwitchOutput(PinOutput):
    fail_safe: bool = Field(
        default=False,
        description="normally energised; de-energised on alarm and when the daemon dies",
    )


class TowerLight(StrictModel):
    red: PinOutput | None = None
    yellow: PinOutput | None = None
    green: PinOutput | None = None


class Relay(SwitchOutput):
    name: Identifier
    remote: bool = Field(default=False, description="upstream may switch it by command")
    max_level: AlarmLevel = Field(default=1, description="driven by alarms of this level or worse")
    channels: list[str] = Field(default_factory=list, description="only these (all if empty)")
    zones: list[str] = Field(default_factory=list)


class Outputs(StrictModel):
    pin_factory: Literal["auto", "mock", "lgpio", "rpigpio", "pigpio", "native"] = "auto"
    buzzer: PinOutput | None = None
    tower: TowerLight = Field(default_factory=TowerLight)
    relays: list[Relay] = Field(default_factory=list)
    fault_relay: SwitchOutput | None = None


class Button(StrictModel):
    pin: int | str
    pull_up: bool = True
    bounce_s: float = Field(default=0.05, ge=0, le=1)


class Inputs(StrictModel):
    ack_button: Button | None = Field(default=None, description="silence and acknowledge all")
    reset_button: Button | None = Field(default=None, description="reset cleared latched alarms")


class AlarmSettings(StrictModel):
    silence_s: float = Field(default=60, gt=0, le=3600, description="default mute duration")
    max_shelve_s: float = Field(default=86400, gt=0, le=7 * 86400)
    flood_count: int = Field(default=10, ge=2, description="this many raised alarms ...")
    flood_window_s: float = Field(default=60, gt=0, le=3600, description="... in this window")


ChannelKind = Literal[
    "gas_lel",
    "gas_ppm",
    "gas_vol",
    "o2",
    "temperature",
    "pressure",
    "humidity",
    "flow",
    "level",
    "position",
    "other",
]


class ChannelConfig(StrictModel):
    id: Identifier
    kind: ChannelKind
    unit: str = Field(max_length=16)
    name: str = Field(default="", max_length=80)
    zone: str = Field(default="", max_length=64)
    range: tuple[float, float] | None = Field(default=None, description="full scale [min, max]")
    safety: bool = Field(
        default=True,
        description="a safety channel: stale_after_s at most 100 s (GB 50166); every channel, "
        "safety or not, faults when offline or its quality is bad",
    )
    decimals: int = Field(default=2, ge=0, le=6, description="digits shown after the point")
    ne43: bool = Field(default=False, description="value is a 4-20 mA loop: NAMUR NE43 faults")
    alarms: ChannelAlarms = Field(default_factory=ChannelAlarms)
    upstream: Literal["raw", "aggregate", "events_only", "none"] = Field(
        default="raw",
        description="what leaves the box: every reading, min/max/mean/last per interval, "
        "alarms and events only, or nothing (process secrets stay on site)",
    )
    codes: dict[str, str] = Field(
        default_factory=dict,
        description="platform identifiers, e.g. monitoring_point_code, hazard_code, cas",
    )

    @model_validator(mode="after")
    def _checks(self) -> ChannelConfig:
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [min, max] with min < max")
        if self.safety and self.alarms.stale_after_s > 100:
            raise ValueError(
                f"alarms.stale_after_s = {self.alarms.stale_after_s} exceeds 100 s, the GB 50166 "
                "limit for a safety channel to report an offline fault; only a process channel "
                "(safety = false) may wait longer, and it still faults when offline"
            )
        if self.alarms.thresholds and self.alarms.thresholds.deadband_pct and not self.range:
            raise ValueError("alarms.thresholds.deadband_pct needs the channel's range")
        return self


class AlarmsConfig(Protocol):
    """What the alarm engine reads of the box config (the whole config satisfies it), so the
    engine depends on its own sections, not on the schema that composes them."""

    @property
    def channels(self) -> Sequence[ChannelConfig]: ...
    @property
    def alarms(self) -> AlarmSettings: ...
    @property
    def votes(self) -> Sequence[Vote]: ...
    @property
    def profiles(self) -> Sequence[Profile]: ...
    @property
    def outputs(self) -> Outputs: ...
