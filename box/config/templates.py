"""Device templates: one device profile instantiated for many unit ids on a bus.

``[[device_templates]]`` names a driver, the unit ids (``"1-32"``, ``[1, 2, 5]``,
``"1-8, 12"``), the device keys every instance shares (``device = { profile = ...,
interval_s = ... }``), and per profile point a channel table whose ``id``, ``name``, ``zone``
and ``codes`` may be patterns (``"tank{unit:02d}.lel"``; fields ``unit``, ``index`` 1..n and
``template``). ``instances.<units>`` overrides any of it for some units (tables merge key by
key). :func:`expand` turns the document into the plain one, with a ``[[channels]]`` item per
instance and point and a ``[[drivers.devices]]`` item per instance, before the schema
validates it like any other config; :class:`Origins` maps an error in a generated item back to
the template key (or instance override) it came from, naming template and unit.
"""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from box.config.locate import PathElem
from box.core.model import FieldProblem, Identifier, StrictModel

SECTION = "device_templates"
PATTERN_KEYS = ("id", "name", "zone")  # and every value of ``codes``
FIELDS = ("unit", "index", "template")
MAX_UNIT = 247
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")

Data = dict[str, Any]


def parse_units(spec: int | str | list[int | str]) -> list[int]:
    """Unit ids in the order written: 7, "1-32", "1-8, 12, 20-24" or a list of those."""
    parts: list[int | str]
    if isinstance(spec, list):
        parts = spec
    elif isinstance(spec, str):
        parts = list(spec.split(","))
    else:
        parts = [spec]
    out: list[int] = []
    for part in parts:
        if isinstance(part, bool):
            raise ValueError(f"unit ids are numbers or ranges like '1-32', not {part!r}")
        if isinstance(part, int):
            ids = [part]
        else:
            m = _RANGE.match(part) if isinstance(part, str) else None
            if m is None:
                raise ValueError(f"{part!r} is not a unit id or a range like '1-32'")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if lo > hi:
                raise ValueError(f"range {part.strip()!r} runs backwards")
            ids = list(range(lo, hi + 1))
        for unit in ids:
            if not 1 <= unit <= MAX_UNIT:
                raise ValueError(f"unit {unit} is outside 1..{MAX_UNIT}")
            if unit in out:
                raise ValueError(f"unit {unit} is listed twice")
            out.append(unit)
    if not out:
        raise ValueError("name at least one unit id")
    return out


def check_pattern(pattern: str) -> None:
    """Refuse a pattern with fields other than unit/index/template, attribute or item access
    (``{unit.real}``), conversions, or a format that cannot apply to its field."""
    try:
        pieces = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"{pattern!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conversion in pieces:
        if name is None:
            continue
        if name not in FIELDS or conversion:
            raise ValueError(
                f"{pattern!r}: unknown field {{{name}}}; use {{unit}}, {{index}} or {{template}}"
                " with an optional format such as {unit:02d}"
            )
        if spec and ("{" in spec):
            raise ValueError(f"{pattern!r}: nested fields are not allowed")
    fill(pattern, unit=1, index=1, template="t")


def fill(pattern: str, unit: int, index: int, template: str) -> str:
    try:
        return pattern.format(unit=unit, index=index, template=template)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"{pattern!r}: {exc}") from None


class Instance(StrictModel):
    """Overrides for some units of a template (merged key by key over the template)."""

    device: Data = Field(
        default_factory=dict,
        description="device keys for these units",
        json_schema_extra={"x-zh": "设备参数"},
    )
    channels: dict[str, Data] = Field(
        default_factory=dict, description="point -> channel keys for these units"
    )


class DeviceTemplate(StrictModel):
    name: Identifier
    driver: Identifier = Field(
        description="the [[drivers]] name whose bus the devices are on",
        json_schema_extra={"x-zh": "所属驱动"},
    )
    units: int | str | list[int | str] = Field(
        description='unit ids: 7, "1-32", "1-8, 12" or a list of those',
        json_schema_extra={"x-zh": "从站地址列表"},
    )
    device: Data = Field(
        default_factory=dict,
        description="keys of every device, e.g. profile = ..., interval_s = ...",
        json_schema_extra={"x-zh": "设备参数"},
    )
    channels: dict[str, Data] = Field(
        min_length=1,
        description='profile point -> channel table; id/name/zone may be patterns: "t{unit}.lel"',
    )
    instances: dict[str, Instance] = Field(
        default_factory=dict,
        description='unit ids ("7", "7-9") -> overrides',
        json_schema_extra={"x-zh": "单独设置"},
    )

    @field_validator("units")
    @classmethod
    def _units(cls, value: Any) -> Any:
        parse_units(value)
        return value

    @model_validator(mode="after")
    def _checks(self) -> DeviceTemplate:
        # FieldProblem: each error names the key inside the template, and so its line.
        for key in ("unit", "channels"):
            if key in self.device:
                raise FieldProblem(("device", key), "set by the template (units, channels)")
        units = set(self.unit_ids())
        for point, table in self.channels.items():
            _check_patterns(("channels", point), table, require_id=True)
        for spec, inst in self.instances.items():
            try:
                ids = parse_units(spec)
            except ValueError as exc:
                raise FieldProblem(("instances", spec), str(exc)) from None
            missing = [u for u in ids if u not in units]
            if missing:
                raise FieldProblem(("instances", spec), f"unit {missing[0]} is not in units")
            for key in ("unit", "channels"):
                if key in inst.device:
                    raise FieldProblem(("instances", spec, "device", key), "set by the template")
            for point, table in inst.channels.items():
                if point not in self.channels:
                    raise FieldProblem(
                        ("instances", spec, "channels", point),
                        f"not a point of this template (points: {', '.join(self.channels)})",
                    )
                _check_patterns(("instances", spec, "channels", point), table, require_id=False)
        return self

    def unit_ids(self) -> list[int]:
        return parse_units(self.units)

    def overrides_for(self, unit: int) -> list[tuple[str, Instance]]:
        """The instance tables that apply to ``unit``, in the order written."""
        return [(spec, i) for spec, i in self.instances.items() if unit in parse_units(spec)]


def _check_patterns(where: tuple[str, ...], table: Data, require_id: bool) -> None:
    if require_id and not isinstance(table.get("id"), str):
        raise FieldProblem((*where, "id"), 'give the id as a pattern, e.g. "tank{unit:02d}.lel"')
    for key, value in _pattern_values(table):
        try:
            check_pattern(value)
        except ValueError as exc:
            raise FieldProblem((*where, *key.split(".")), str(exc)) from None


def _pattern_values(table: Data) -> Iterator[tuple[str, str]]:
    for key in PATTERN_KEYS:
        if isinstance(table.get(key), str):
            yield key, table[key]
    codes = table.get("codes")
    if isinstance(codes, dict):
        for key, value in codes.items():
            if isinstance(value, str):
                yield f"codes.{key}", value


def merge(base: Data, over: Data) -> Data:
    """``over`` merged into a copy of ``base``: tables key by key, lists of named tables (alarm
    levels) item by item by name, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = merge(old, value)
        elif isinstance(old, list) and _named(value) and _named(old):
            by_name = {item["name"]: item for item in old}
            for item in value:
                by_name[item["name"]] = merge(by_name.get(item["name"], {}), item)
            out[key] = list(by_name.values())
        else:
            out[key] = copy.deepcopy(value)
    return out


def _named(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in value)
    )


@dataclass(frozen=True)
class Origin:
    """Where a generated item came from: template ``index`` named ``name``, for ``unit``."""

    index: int
    name: str
    unit: int
    point: str | None  # a channel's profile point; None for the device item
    overrides: tuple[tuple[str, Data], ...]  # (instance key, its table for this item)
    template: Data  # the template's own table for this item (a channel's, or ``device``)
    generated: Data  # the item as generated

    def source(self, rest: tuple[PathElem, ...]) -> tuple[PathElem, ...]:
        """The path in the template of the key at ``rest`` inside the generated item: in the
        last instance override that sets it, else in the template."""
        base: tuple[PathElem, ...] = (SECTION, self.index)
        if self.point is None:  # a device
            if not rest or rest[0] == "unit":
                return (*base, "units")
            if rest[0] == "channels":
                return (*base, "channels", *rest[1:2], *(("id",) if len(rest) > 1 else ()))
            head: tuple[PathElem, ...] = ("device",)
        else:
            head = ("channels", self.point)
        for spec, table in reversed(self.overrides):
            inner = _translate(self.generated, table, rest)
            if inner is not None:
                return (*base, "instances", spec, *head, *inner)
        return (*base, *head, *(_translate(self.generated, self.template, rest, True) or rest))


def _translate(
    generated: Any, table: Any, path: tuple[PathElem, ...], partial: bool = False
) -> tuple[PathElem, ...] | None:
    """``path`` of the generated item as a path in ``table`` (an override or the template),
    list items of merged named lists found by name; None when ``table`` does not set it
    (``partial``: as far as it goes)."""
    out: list[PathElem] = []
    gen, node = generated, table
    for elem in path:
        if isinstance(elem, int) and isinstance(gen, list) and isinstance(node, list):
            item = gen[elem] if 0 <= elem < len(gen) else None
            name = item.get("name") if isinstance(item, dict) else None
            names = [x.get("name") if isinstance(x, dict) else None for x in node]
            idx = names.index(name) if name is not None and name in names else None
            if idx is None and name is None and elem < len(node):
                idx = elem
            if idx is None:
                return (*out, *path[len(out) :]) if partial else None
            out.append(idx)
            gen, node = item, node[idx]
        elif isinstance(elem, str) and isinstance(node, dict) and elem in node:
            out.append(elem)
            gen = gen.get(elem) if isinstance(gen, dict) else None
            node = node[elem]
        else:
            return (*out, *path[len(out) :]) if partial and out else None
    return tuple(out) if out else None


@dataclass
class Origins:
    """Generated list items by their path in the expanded document."""

    items: dict[tuple[PathElem, ...], Origin] = field(default_factory=dict)
    created: dict[tuple[PathElem, ...], int] = field(default_factory=dict)  # lists made: template
    # A driver's devices that an invalid template (reported on its own) would have filled.
    pending: set[tuple[PathElem, ...]] = field(default_factory=set)

    def find(self, path: tuple[PathElem, ...]) -> tuple[Origin, tuple[PathElem, ...]] | None:
        for n in (4, 2):  # ("drivers", d, "devices", k) or ("channels", i)
            origin = self.items.get(path[:n])
            if origin is not None:
                return origin, path[n:]
        return None

    def describe(self, key: tuple[PathElem, ...]) -> str | None:
        """Words for a generated item (``("channels", 40)``), None for one written out."""
        o = self.items.get(key)
        return None if o is None else f"template {o.name!r} unit {o.unit}"


@dataclass(frozen=True)
class TemplateProblem:
    path: tuple[PathElem, ...]
    value: Any
    reason: str


def expand(data: Data) -> tuple[Data, Origins, list[TemplateProblem]]:
    """The document with every valid template's devices and channels added (after the ones
    written out), where each came from, and problems only expansion can see (a driver that is
    not there). A template invalid on its own is left out here and reported by the schema."""
    raw = data.get(SECTION)
    origins = Origins()
    if not isinstance(raw, list) or not raw:
        return data, origins, []
    if not isinstance(data.get("channels", []), list) or not isinstance(
        data.get("drivers", []), list
    ):
        return data, origins, []  # the schema reports the section; nothing to add to
    out = dict(data)
    channels = list(out.get("channels", []))
    drivers = [dict(d) if isinstance(d, dict) else d for d in out.get("drivers", [])]
    problems: list[TemplateProblem] = []
    first: dict[str, int] = {}
    for t, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str):
            if name in first:
                reason = f"duplicate of {SECTION}[{first[name]}]: template names must be unique"
                problems.append(TemplateProblem((SECTION, t, "name"), name, reason))
            first.setdefault(name, t)
        names = [x.get("name") if isinstance(x, dict) else None for x in drivers]
        try:
            tpl = DeviceTemplate.model_validate(item)
        except ValidationError:  # the schema reports it, with the same paths
            named = item.get("driver") if isinstance(item, dict) else None
            if named in names:
                origins.pending.add(("drivers", names.index(named), "devices"))
            continue
        d = names.index(tpl.driver) if tpl.driver in names else None
        if d is None:
            known = ", ".join(str(n) for n in names if n) or "none"
            reason = f"template {tpl.name!r}: no [[drivers]] named {tpl.driver!r} ({known})"
            problems.append(TemplateProblem((SECTION, t, "driver"), tpl.driver, reason))
            continue
        target = drivers[d]
        devices = target.get("devices")
        if devices is None:
            devices = []
            origins.created[("drivers", d, "devices")] = t
        if not isinstance(devices, list):
            continue  # the schema reports the written devices key
        devices = list(devices)
        target["devices"] = devices
        for index, unit in enumerate(tpl.unit_ids(), start=1):
            over = tpl.overrides_for(unit)
            device = {"unit": unit, **tpl.device}
            for _, inst in over:
                device = merge(device, inst.device)
            mapping: dict[str, str] = {}
            for point, table in tpl.channels.items():
                channel = table
                point_over = []
                for spec, inst in over:
                    if point in inst.channels:
                        channel = merge(channel, inst.channels[point])
                        point_over.append((spec, inst.channels[point]))
                channel = _filled(channel, unit, index, tpl.name)
                origins.items[("channels", len(channels))] = Origin(
                    t, tpl.name, unit, point, tuple(point_over), table, channel
                )
                channels.append(channel)
                mapping[point] = channel["id"]
            device["channels"] = mapping
            origins.items[("drivers", d, "devices", len(devices))] = Origin(
                t, tpl.name, unit, None, tuple((s, i.device) for s, i in over), tpl.device, device
            )
            devices.append(device)
    out["drivers"] = drivers
    out["channels"] = channels
    return out, origins, problems


def _filled(table: Data, unit: int, index: int, template: str) -> Data:
    out = copy.deepcopy(table)
    for key in PATTERN_KEYS:
        if isinstance(out.get(key), str):
            out[key] = fill(out[key], unit, index, template)
    codes = out.get("codes")
    if isinstance(codes, dict):
        out["codes"] = {
            k: fill(v, unit, index, template) if isinstance(v, str) else v for k, v in codes.items()
        }
    return out
