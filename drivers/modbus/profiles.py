"""Device profiles: register maps as data files, validated when loaded.

Shipped profiles live in ``drivers/modbus/profiles/*.toml``; a box can add its own in
``profiles/`` beside its box.toml. Every error names the profile, the register and the field.
The format is described for technicians in docs/PROFILES.md.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from box.core.errors import DriverError
from box.core.model import Identifier, StrictModel
from drivers.modbus.datatypes import LEGALITY, DataType

# Unit codes of the generic Chinese gas probe (its unit-code register reads 0..18).
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
ALARM_FLAGS = ("a1", "a2")  # the device's own alarm levels, lowest first


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
    applies_to: dict[str, list[str]] = Field(
        default_factory=dict,
        description="flag -> the points it makes unusable (default: every point)",
    )

    def points_of(self, flag: str) -> frozenset[str] | None:
        """The points a flag blanks; None: every point."""
        names = self.applies_to.get(flag)
        return None if names is None else frozenset(names)


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


class FaultCodes(StrictModel):
    """A register (or some of its bits) holding a code: which codes mean measuring, warming up,
    calibrating, and what every fault code means in words."""

    address: int = Field(ge=0, le=65535)
    function: Literal[3, 4] = 3
    mask: int = Field(default=0xFFFF, ge=1, le=0xFFFF, description="bits holding the code")
    ok: list[int] = Field(default_factory=lambda: [0], description="codes meaning: measuring")
    warmup: list[int] = Field(default_factory=list)
    calibration: list[int] = Field(default_factory=list)
    codes: dict[int, str] = Field(default_factory=dict, description="fault code -> meaning")
    applies_to: list[str] | None = Field(
        default=None, description="the points a code other than ok blanks (default: all)"
    )

    def code_of(self, word: int) -> int:
        shift = (self.mask & -self.mask).bit_length() - 1  # the mask's lowest bit is bit 0
        return (word & self.mask) >> shift

    def largest(self) -> int:
        return self.code_of(0xFFFF)


class Identify(StrictModel):
    """For scans: a register (or some of its bits) that reads within [min, max] on this
    device type."""

    address: int = Field(ge=0, le=65535)
    function: Literal[3, 4] = 3
    mask: int = Field(default=0xFFFF, ge=1, le=0xFFFF, description="bits to compare")
    min: int = Field(default=0, ge=0, le=65535)
    max: int = Field(default=65535, ge=0, le=65535)

    def value_of(self, word: int) -> int:
        shift = (self.mask & -self.mask).bit_length() - 1
        return (word & self.mask) >> shift

    def passes(self, word: int) -> bool:
        return self.min <= self.value_of(word) <= self.max

    @property
    def narrows(self) -> bool:
        """Does this check rule out some devices? (0..65535 matches any register.)"""
        return self.max - self.min < self.value_of(0xFFFF)


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
    fault_codes: list[FaultCodes] = Field(default_factory=list)
    identify: list[Identify] = Field(
        default_factory=list, description="checks a scan needs to pass to name this profile"
    )
    heartbeat_timeout_s: float = Field(default=6.0, gt=0)
    alarm_point: str | None = Field(
        default=None, description="the point the status word's a1/a2 bits are about (first)"
    )

    def device_alarm_point(self) -> str | None:
        """The point whose readings carry the device's alarm state, or None when the status
        word has no alarm bits."""
        if self.status is None or not set(ALARM_FLAGS) & set(self.status.bits):
            return None
        return self.alarm_point or self.points[0].name

    @field_validator("identify", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value  # [identify] or [[identify]]

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
        if self.status:
            _check_applies_to(self.status, seen)
        for f in self.fault_codes:
            if f.applies_to is not None:
                _check_points(f"fault_codes register {f.address}: applies_to", f.applies_to, seen)
        if self.alarm_point is not None and self.alarm_point not in seen:
            raise ValueError(f"alarm_point {self.alarm_point!r}: no point has that name")
        for s in self.setpoints:
            if s.min > s.max:
                raise ValueError(f"setpoint {s.name} (register {s.address}): min > max")
        for f in self.fault_codes:
            _check_fault_codes(f)
        for i in self.identify:
            if i.min > i.max:
                raise ValueError(f"identify register {i.address}: min > max")
        return self


def _check_points(where: str, names: list[str], points: set[str]) -> None:
    if not names:
        raise ValueError(f"{where}: name at least one point (leave the key out for all)")
    unknown = sorted(set(names) - points)
    if unknown:
        raise ValueError(f"{where}: no point(s) {unknown}; points: {', '.join(sorted(points))}")


def _check_applies_to(st: StatusWord, points: set[str]) -> None:
    """Only flags that blank readings, configured in this status word, naming real points."""
    where = f"status register {st.address}: applies_to"
    for flag, names in st.applies_to.items():
        if flag not in (*NOT_MEASURING, "heartbeat"):
            allowed = ", ".join((*NOT_MEASURING, "heartbeat"))
            raise ValueError(f"{where}: {flag!r} is not a flag that blanks points ({allowed})")
        if flag not in st.bits and not (flag == "fault" and st.fault_mask):
            raise ValueError(f"{where}: flag {flag!r} has no bit in bits (or fault_mask)")
        _check_points(f"{where}.{flag}", names, points)


def _check_fault_codes(f: FaultCodes) -> None:
    where = f"fault_codes register {f.address}"
    groups = {"ok": f.ok, "warmup": f.warmup, "calibration": f.calibration, "codes": list(f.codes)}
    seen: dict[int, str] = {}
    for group, codes in groups.items():
        for code in codes:
            if not 0 <= code <= f.largest():
                raise ValueError(f"{where}: code {code} in {group} does not fit mask {f.mask:#06x}")
            if code in seen:
                raise ValueError(f"{where}: code {code} is in both {seen[code]} and {group}")
            seen[code] = group


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


_SHIPPED: dict[str, Profile] | None = None  # part of the installed package: read once
_USER: dict[Path, tuple[tuple[Any, ...], dict[str, Profile]]] = {}


def _shipped_once() -> dict[str, Profile]:
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = shipped()
    return _SHIPPED


def _signature(folder: Path) -> tuple[Any, ...]:
    """What the folder holds now: a new, changed or removed file changes it."""
    out = []
    for path in sorted(folder.glob("*.toml")):
        st = path.stat()
        out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def user_profiles(folder: Path) -> dict[str, Profile]:
    """The profiles in a box's ``profiles/`` folder, re-read whenever its files change (a
    config reload must see a profile added a moment ago), else from the last read."""
    if not folder.is_dir():
        return {}
    sig = _signature(folder)
    cached = _USER.get(folder)
    if cached is not None and cached[0] == sig:
        return cached[1]
    found: dict[str, Profile] = {}
    for path in sorted(folder.glob("*.toml")):
        profile = _load(path.read_text(encoding="utf-8"), str(path))
        found[profile.name] = profile
    _USER[folder] = (sig, found)
    return found


def load_profiles(extra_dir: Path | None = None) -> dict[str, Profile]:
    """Shipped profiles, plus (overriding by name) those in ``extra_dir`` (a box's
    ``profiles/`` folder, :attr:`box.paths.BoxHome.profiles_dir`)."""
    profiles = dict(_shipped_once())
    if extra_dir is not None:
        profiles.update(user_profiles(extra_dir))
    return profiles
