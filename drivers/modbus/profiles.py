"""Device profiles: register maps as data files, validated when loaded.

Shipped profiles live in ``drivers/modbus/profiles/*.toml``; a box can add its own in
``<data dir>/profiles``. Every error names the profile, the register and the field.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from box.core.errors import DriverError
from box.core.model import Identifier, StrictModel
from drivers.modbus.datatypes import LEGALITY, DataType

# Unit codes of the generic Chinese gas probe (DOMAIN.md 5A).
UNIT_CODES = [
    "",
    "ppm",
    "pphm",
    "ppb",
    "%LEL",
    "%VOL",
    "µg/m³",
    "mg/m³",
    "g/m³",
    "mg/L",
    "%RH",
    "°C",
    "Nm³/h",
    "MPa",
    "kPa",
    "Pa",
    "mm",
    "m³/h",
    "m/s",
]

FLAGS = ("a1", "a2", "fault", "warmup", "calibration", "inhibit", "heartbeat")
NOT_MEASURING = ("fault", "warmup", "calibration", "inhibit")


class MilliAmp(StrictModel):
    """A 4-20 mA loop: the point's value (after scale) is mA, mapped onto ``range``."""

    range: tuple[float, float]
    low_ma: float = 4.0
    high_ma: float = 20.0


class Point(StrictModel):
    name: Identifier
    address: int = Field(ge=0, le=65535)
    function: Literal[3, 4] = 3
    type: DataType
    word_order: Literal["big", "little"] | None = None
    byte_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    decimals_register: int | None = Field(default=None, ge=0, le=65535)
    unit: str | None = None
    unit_code_register: int | None = Field(default=None, ge=0, le=65535)
    ma: MilliAmp | None = None
    valid: tuple[float, float] | None = Field(default=None, description="plausible range")

    def registers(self) -> int:
        return LEGALITY[self.type].registers


class StatusWord(StrictModel):
    address: int = Field(ge=0, le=65535)
    function: Literal[3, 4] = 3
    bits: dict[str, int] = Field(description=f"flag -> bit number; flags: {', '.join(FLAGS)}")
    fault_mask: int = Field(default=0, ge=0, le=0xFFFF, description="any of these bits: fault")


class Setpoint(StrictModel):
    name: Identifier
    address: int = Field(ge=0, le=65535)
    type: DataType = DataType.UINT16
    word_order: Literal["big", "little"] | None = None
    scale: float = 1.0
    min: float
    max: float


class Command(StrictModel):
    name: Identifier
    address: int = Field(ge=0, le=65535)
    values: list[int] = Field(min_length=1, max_length=4)


class Identify(StrictModel):
    """For scans: a register that reads within [min, max] on this device type."""

    address: int = Field(ge=0, le=65535)
    function: Literal[3, 4] = 3
    min: int = 0
    max: int = 65535


class Profile(StrictModel):
    name: Identifier
    address_register: int | None = Field(
        default=None, ge=0, le=65535, description="writing here changes the unit id"
    )
    baud_register: int | None = Field(default=None, ge=0, le=65535)
    baud_codes: dict[int, int] = Field(default_factory=dict, description="baud rate -> code")
    description: str = ""
    points: list[Point] = Field(min_length=1)
    status: StatusWord | None = None
    setpoints: list[Setpoint] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    identify: Identify | None = None
    heartbeat_timeout_s: float = Field(default=6.0, gt=0)

    @model_validator(mode="after")
    def _legal(self) -> Profile:
        seen: set[str] = set()
        for p in self.points:
            where = f"register {p.address} ({p.name})"
            rules = LEGALITY[p.type]
            if p.name in seen:
                raise ValueError(f"{where}: duplicate point name")
            seen.add(p.name)
            if p.word_order is not None and not rules.word_order:
                raise ValueError(f"{where}: word_order is illegal with type {p.type} (1 register)")
            if p.decimals_register is not None and not rules.decimals:
                raise ValueError(f"{where}: decimals_register is only legal with type scaled")
            if p.type == DataType.SCALED and p.decimals_register is None:
                raise ValueError(f"{where}: type scaled demands decimals_register")
            if p.unit is not None and p.unit_code_register is not None:
                raise ValueError(f"{where}: give unit or unit_code_register, not both")
        if self.status:
            unknown = set(self.status.bits) - set(FLAGS)
            if unknown:
                raise ValueError(
                    f"status register {self.status.address}: unknown flags {sorted(unknown)}"
                )
            bad = {k: v for k, v in self.status.bits.items() if not 0 <= v <= 15}
            if bad:
                raise ValueError(
                    f"status register {self.status.address}: bits must be 0..15: {bad}"
                )
        for s in self.setpoints:
            if s.min > s.max:
                raise ValueError(f"setpoint {s.name} (register {s.address}): min > max")
        return self


def _load(text: str, source: str) -> Profile:
    try:
        return Profile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise DriverError(f"profile {source}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"profile {source}: {loc + ': ' if loc else ''}{msg}")
        raise DriverError("\n".join(lines)) from None


def shipped() -> dict[str, Profile]:
    out = {}
    for entry in resources.files("drivers.modbus").joinpath("profiles").iterdir():
        if entry.name.endswith(".toml"):
            profile = _load(entry.read_text(encoding="utf-8"), entry.name)
            out[profile.name] = profile
    return out


def load_profiles(extra_dir: Path | None = None) -> dict[str, Profile]:
    """Shipped profiles, plus (overriding by name) those in ``extra_dir``."""
    profiles = shipped()
    if extra_dir is not None and extra_dir.is_dir():
        for path in sorted(extra_dir.glob("*.toml")):
            profile = _load(path.read_text(encoding="utf-8"), str(path))
            profiles[profile.name] = profile
    return profiles
