"""Config models of the alarm engine: channels, profiles, outputs and inputs. Each rule kind's
model lives with its kind (box/alarms/kinds)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import Field, field_validator, model_validator

from box.alarms.pins import Pin
from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel

Delay = float  # seconds; bounds are set per field


class ChannelAlarms(StrictModel):
    """Everything that can raise an alarm on one channel: these keys of the always-on kinds
    (over-range and fault), and one key per channel rule kind (added by the schema, see
    box/alarms/kinds)."""

    over_range: bool = Field(default=True, description="alarm (level 1) beyond the range")
    stale_after_s: float = Field(default=60, ge=1, le=86400)
    escalate_after_s: float = Field(default=3600, ge=60, le=7 * 86400)
    fault_level: AlarmLevel = 3


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
    pin: Pin
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


class OutputConfig(StrictModel):
    """Fields every plug-in output has; a kind subclasses this with ``type: Literal[KIND]``
    (see box/alarms/output_kinds.py)."""

    type: str
    name: Identifier


class Outputs(StrictModel):
    pin_factory: Literal["auto", "mock", "lgpio", "rpigpio", "pigpio", "native"] = "auto"
    buzzer: PinOutput | None = None
    tower: TowerLight = Field(default_factory=TowerLight)
    relays: list[Relay] = Field(default_factory=list)
    fault_relay: SwitchOutput | None = None
    # One variant per loaded output kind (composed by the schema, like the drivers).
    plugins: list[OutputConfig] = Field(
        default_factory=list, description="outputs of plug-in kinds, each with its type"
    )

    def gpio(self) -> dict[str, object]:
        """The settings of the GPIO outputs alone, to tell whether the pins need rebuilding."""
        return self.model_dump(exclude={"plugins"})


class Button(StrictModel):
    pin: Pin
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
        return self


class AlarmsConfig(Protocol):
    """What the alarm engine reads of the box config (the whole config satisfies it), so the
    engine depends on its own sections, not on the schema that composes them. Site rule kinds'
    lists (e.g. ``votes``) are further attributes, read by each kind."""

    @property
    def channels(self) -> Sequence[ChannelConfig]: ...
    @property
    def alarms(self) -> AlarmSettings: ...
    @property
    def profiles(self) -> Sequence[Profile]: ...
    @property
    def outputs(self) -> Outputs: ...
