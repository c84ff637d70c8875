"""``[[positioning]]``: one site plan with its zones, its people and their rules.

Zones are polygons in site metres. Their type decides the rules: ``restricted`` (authorised
people only), ``danger`` (authorised only, and everyone else is warned within
``approach_m``), ``confined_space`` (authorised only, a maximum stay, an attendant required in
``attendant_zone``), ``muster_point`` and ``area`` (a plain named area, optionally a key post
that must not be left unattended). Every zone may be linked to gas channels (per-worker
exposure), cameras (named in its alarms) and outputs (relays that follow its alarms).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel
from drivers.uwb.zh import zh_names

ZoneType = Literal["restricted", "danger", "confined_space", "muster_point", "area"]
AUTHORISED_ONLY: tuple[str, ...] = ("restricted", "danger", "confined_space")


class Zone(StrictModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)
    id: Identifier
    name: str = Field(default="", max_length=80)
    type: ZoneType = "area"
    polygon: list[tuple[float, float]] = Field(
        min_length=3, max_length=1000, description="corners [x, y] in site metres"
    )
    level: AlarmLevel | None = Field(
        default=None, description="level of this zone's alarms (default by type)"
    )
    authorised_only: bool | None = Field(
        default=None, description="default: true for restricted, danger and confined_space"
    )
    authorised_roles: list[str] = Field(default_factory=list, description="roles let in")
    approach_m: float = Field(default=0, ge=0, le=100, description="danger: warn this close")
    max_stay_s: float | None = Field(default=None, gt=0, le=86400, description="overstay after")
    max_people: int | None = Field(default=None, ge=0, description="headcount limit")
    attendant_zone: Identifier | None = Field(
        default=None, description="confined space: where its attendant must be"
    )
    attendant_roles: list[str] = Field(default_factory=lambda: ["attendant"])
    key_post_s: float | None = Field(
        default=None, gt=0, le=86400, description="key post: alarm when unattended this long"
    )
    post_roles: list[str] = Field(default_factory=list, description="who attends (all if empty)")
    channels: list[str] = Field(default_factory=list, description="gas channels in this zone")
    cameras: list[str] = Field(default_factory=list)
    outputs: list[Identifier] = Field(
        default_factory=list, description="relays driven by this zone's alarms"
    )
    latching: bool = False

    @field_validator("polygon")
    @classmethod
    def _valid(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        from shapely.geometry import Polygon

        poly = Polygon(v)
        if not poly.is_valid or poly.area <= 0:
            from shapely.validation import explain_validity

            raise ValueError(f"polygon is not a simple area: {explain_validity(poly)}")
        return v

    @property
    def restricted(self) -> bool:
        if self.authorised_only is not None:
            return self.authorised_only
        return self.type in AUTHORISED_ONLY

    def alarm_level(self, default: int) -> int:
        return self.level if self.level is not None else default


class Person(StrictModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)
    tag: str = Field(min_length=1, max_length=64, pattern=r"^[^:\s]+$")
    name: str = Field(min_length=1, max_length=80)
    role: str = Field(default="", max_length=40)
    badge: str = Field(default="", max_length=40)
    team: str = Field(default="", max_length=40)
    zones: list[Identifier] = Field(default_factory=list, description="authorised zones")


class ManDown(StrictModel):
    """No movement beyond ``radius_m``: a pre-alarm after ``pre_alarm_s``, then a latched
    level-1 alarm after ``alarm_s`` unless the wearer moves (30 s to 5 min, like the
    instruments that do this)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    enabled: bool = True
    radius_m: float = Field(default=1.0, gt=0, le=20)
    pre_alarm_s: float = Field(default=45, ge=5, le=300)
    alarm_s: float = Field(default=90, ge=30, le=300)
    zones: list[Identifier] = Field(
        default_factory=list, description="only in these (all if empty)"
    )

    @model_validator(mode="after")
    def _order(self) -> ManDown:
        if self.pre_alarm_s >= self.alarm_s:
            raise ValueError(f"pre_alarm_s {self.pre_alarm_s} must be less than alarm_s")
        return self


class Muster(StrictModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)
    start_on_level1: bool = Field(
        default=False, description="a level-1 alarm anywhere on the box starts a muster"
    )
    present_within_s: float = Field(
        default=3600, gt=0, le=86400, description="who is on the roll: seen this recently"
    )


class GasExposure(StrictModel):
    """Per-worker STEL/TWA of one gas, from the zone channels he stands among."""

    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    gas: Identifier
    channels: list[str] = Field(min_length=1, description="channels measuring this gas")
    stel: float | None = Field(default=None, gt=0, description="15-min average limit")
    twa: float | None = Field(default=None, gt=0, description="8-h average limit")
    stel_window_s: float = Field(default=900, ge=60, le=86400)
    twa_window_s: float = Field(default=28800, ge=60, le=86400)
    level: AlarmLevel = 2


class Positioning(StrictModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)
    id: Identifier = "site"
    name: str = Field(default="", max_length=80)
    zones: list[Zone] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    plan_size_m: tuple[float, float] | None = Field(
        default=None,
        description="width and height of the site plan image in site metres, origin at its "
        "bottom-left corner (default: the zones' extent plus 10 %)",
    )
    margin_m: float = Field(
        default=0.5, ge=0, le=20, description="a fence is left only this far outside it"
    )
    min_dwell_s: float = Field(
        default=2.0, ge=0, le=600, description="a zone change counts after holding this long"
    )
    lost_after_s: float = Field(default=30, ge=1, le=86400, description="lost tag fault after")
    battery_low_pct: float = Field(default=20, ge=0, le=100)
    unknown_tags: bool = Field(
        default=True, description="track tags not in people (as unauthorised strangers)"
    )
    max_unknown_tags: int = Field(default=100, ge=0, le=10000)
    track_window_s: float = Field(
        default=300, ge=0, le=3600, description="full-rate positions kept in memory this long"
    )
    man_down: ManDown = Field(default_factory=ManDown)
    muster: Muster = Field(default_factory=Muster)
    exposure: list[GasExposure] = Field(default_factory=list)

    @field_validator("plan_size_m")
    @classmethod
    def _positive(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not all(math.isfinite(d) and d > 0 for d in v):
            raise ValueError("plan_size_m must be two positive sizes in metres")
        return v

    def plan_extent(self) -> tuple[float, float]:
        """(width, height) in metres of the plan the map draws on."""
        if self.plan_size_m is not None:
            return self.plan_size_m
        xs = [x for z in self.zones for x, _ in z.polygon] or [10.0]
        ys = [y for z in self.zones for _, y in z.polygon] or [10.0]
        return (max(max(xs), 1.0) * 1.1, max(max(ys), 1.0) * 1.1)

    @model_validator(mode="after")
    def _references(self) -> Positioning:
        ids = [z.id for z in self.zones]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"zone ids are not unique: {sorted(dup)}")
        tags = [p.tag for p in self.people]
        dup = {t for t in tags if tags.count(t) > 1}
        if dup:
            raise ValueError(f"tags are assigned twice: {sorted(dup)}")
        known = set(ids)
        for p in self.people:
            bad = [z for z in p.zones if z not in known]
            if bad:
                raise ValueError(f"person {p.name!r} is authorised for unknown zones {bad}")
        for z in self.zones:
            if z.attendant_zone is not None and z.attendant_zone not in known:
                raise ValueError(f"zone {z.id!r}: attendant_zone {z.attendant_zone!r} unknown")
        bad = [z for z in self.man_down.zones if z not in known]
        if bad:
            raise ValueError(f"man_down.zones names unknown zones {bad}")
        return self
