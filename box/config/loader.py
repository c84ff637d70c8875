"""Load and validate ``box.toml``; each problem names file, line, field path, value and reason."""

from __future__ import annotations

import functools
import re
import tomllib
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from box.alarms.config import ChannelConfig
from box.alarms.kinds import RuleKinds, default_rule_kinds
from box.alarms.output_kinds import OutputKinds
from box.config.locate import PathElem, locate
from box.config.schema import BoxConfigBase, build_config_model
from box.config.templates import SECTION as TEMPLATES
from box.config.templates import Origins
from box.config.templates import expand as expand_templates
from box.core.errors import ConfigError
from box.core.model import FieldProblem
from box.paths import setup_advice
from drivers.base import DriverRegistry, default_registry

_MISSING = object()


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong with a config document."""

    path: tuple[PathElem, ...]
    value: Any
    reason: str
    line: int | None = None

    @property
    def dotted(self) -> str:
        out = ""
        for elem in self.path:
            out += f"[{elem}]" if isinstance(elem, int) else (f".{elem}" if out else str(elem))
        return out or "(document)"

    @property
    def shown_value(self) -> str:
        if self.value is _MISSING:
            return "(missing)"
        if isinstance(self.value, dict):
            return "(table)"  # the key named by the path is the one to look at, not a repr
        return repr(self.value)

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.dotted} = {self.shown_value}: {self.reason}"


class ConfigInvalid(ConfigError):
    """A config document failed validation; ``issues`` lists every problem found."""

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        lines = [issue.render(source) for issue in self.issues]
        super().__init__(f"{source}: {len(lines)} problem(s)\n  " + "\n  ".join(lines))


BOX_DIR = "box_dir"
"""Validation context key: the folder of the box's box.toml, where validators find the box's
own files (the Modbus driver: ``profiles/``). Passed in explicitly, never read from a global,
so a reload sees a profile added meanwhile and the field tools see the same ones."""


def context_for(config_file: Path) -> dict[str, Any]:
    return {BOX_DIR: config_file.parent}


def parse_config(
    text: str,
    source: str = "box.toml",
    registry: DriverRegistry | None = None,
    kinds: RuleKinds | None = None,
    outputs: OutputKinds | None = None,
    context: dict[str, Any] | None = None,
) -> BoxConfigBase:
    """Validate a TOML document; raise :class:`ConfigInvalid` listing every problem.

    ``context``: :func:`context_for` the box's config file (without one, validators that need
    the box's files fall back to the box home of the process: --home, SAFETYBOX_HOME, /etc)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"at line (\d+)", str(exc))
        line = int(where.group(1)) if where else None
        issue = ConfigIssue((), _MISSING, f"not valid TOML: {exc}", line)
        raise ConfigInvalid(source, [issue]) from None
    kinds = kinds or default_rule_kinds()
    model = build_config_model(registry or default_registry(), kinds, outputs)
    # The file must say its format: an empty or truncated file (a power cut during a non-atomic
    # write) must be rejected, not run as a valid box with no channels.
    issues = (
        []
        if "config_version" in data
        else [ConfigIssue(("config_version",), _MISSING, "Field required (config_version = 1)", 1)]
    )
    # Templates become plain channels and devices first; errors in those name the template.
    data, origins, problems = expand_templates(data)
    issues += [ConfigIssue(p.path, p.value, p.reason, locate(text, p.path)) for p in problems]
    found: list[ConfigIssue] = []
    try:
        config = model.model_validate(data, context=context)
    except ValidationError as exc:
        found += [_issue_from_pydantic(err, data, text) for err in exc.errors()]
        # Cross-section checks over the parts that are valid on their own, in the same report:
        # fixing one list of problems must not reveal a second one.
        config = partial_config(model, data, context)
    found += [
        ConfigIssue(i.path, i.value, i.reason, locate(text, i.path))
        for i in cross_check(config, kinds)
    ]
    issues += _unique(
        _blame_template(i, origins, text) for i in found if i.path[:3] not in origins.pending
    )
    if issues:
        raise ConfigInvalid(source, issues) from None
    return config


def _blame_template(issue: ConfigIssue, origins: Origins, text: str) -> ConfigIssue:
    """An issue in a generated channel or device, moved to the template key it came from
    (or the instance override that set it), naming the template and the unit."""
    reason = _REF.sub(lambda m: _ref_words(m, issue.path, origins), issue.reason)
    found = origins.find(issue.path)
    if found is None:
        t = origins.created.get(issue.path[:3])
        if t is None:
            return ConfigIssue(issue.path, issue.value, reason, issue.line)
        path: tuple[PathElem, ...] = (TEMPLATES, t, "driver")
        reason = f"devices from a template: {reason}"
        return ConfigIssue(path, issue.value, reason, locate(text, path))
    origin, rest = found
    path = origin.source(rest)
    return ConfigIssue(
        path,
        issue.value,
        f"template {origin.name!r} unit {origin.unit}: {reason}",
        locate(text, path),
    )


_REF = re.compile(r"\b(channels|devices)\[(\d+)\]")


def _ref_words(m: re.Match[str], path: tuple[PathElem, ...], origins: Origins) -> str:
    """ "channels[40]" in a reason, with the template and unit that made that item."""
    key: tuple[PathElem, ...] = (
        ("channels", int(m.group(2)))
        if m.group(1) == "channels"
        else ("drivers", path[1] if len(path) > 1 else -1, "devices", int(m.group(2)))
    )
    words = origins.describe(key)
    return m.group(0) if words is None else f"{m.group(0)} ({words})"


def _unique(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    """One report per template key and reason: 32 instances of one mistake are one mistake."""
    seen: dict[tuple[Any, ...], ConfigIssue] = {}
    for i in issues:
        if i.path and i.path[0] == TEMPLATES:
            key = (i.path, _UNIT.sub("", i.reason))
            if key in seen:
                continue
            seen[key] = i
        else:
            seen[(len(seen),)] = i
    return list(seen.values())


_UNIT = re.compile(r" unit \d+")


def load_config(
    path: Path,
    registry: DriverRegistry | None = None,
    kinds: RuleKinds | None = None,
    context: dict[str, Any] | None = None,
) -> BoxConfigBase:
    """The config file at ``path``, validated with ``context`` (default: the box whose
    box.toml it is, i.e. the profiles beside it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found: {setup_advice(path)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    return parse_config(text, str(path), registry, kinds, context=context or context_for(path))


def partial_config(
    model: type[BoxConfigBase], data: dict[str, Any], context: dict[str, Any] | None = None
) -> BoxConfigBase:
    """The document's valid parts, unvalidated as a whole, for :func:`cross_check` when it has
    field errors: each section and each list item on its own; an invalid section is left at
    its default, an invalid list item is None (indices stay), and an invalid channel keeps its
    id, so drivers that refer to it are not also reported as referring to nothing."""
    sections: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        raw = data[name]
        annotation: Any = field.annotation  # a type form (a model, list[...], a union)
        if isinstance(raw, list) and typing.get_origin(annotation) is list:
            item = _adapter(typing.get_args(annotation)[0])
            sections[name] = [_valid_or_none(item, x, name, context) for x in raw]
        else:
            try:
                sections[name] = _adapter(annotation).validate_python(raw, context=context)
            except ValidationError:
                pass  # left at its default by model_construct
    return model.model_construct(**sections)


@functools.lru_cache(maxsize=64)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _valid_or_none(
    adapter: TypeAdapter[Any], raw: Any, section: str, context: dict[str, Any] | None
) -> Any:
    try:
        return adapter.validate_python(raw, context=context)
    except ValidationError:
        if section == "channels" and isinstance(raw, dict) and isinstance(raw.get("id"), str):
            return ChannelConfig.model_construct(id=raw["id"])
        return None


def cross_check(config: BoxConfigBase, kinds: RuleKinds | None = None) -> list[ConfigIssue]:
    """Rules that span sections: unique ids, every driver channel declared once, and the rule
    kinds' checks. List items may be None (invalid on their own: see :func:`partial_config`)
    and are skipped."""
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for i, ch in enumerate(config.channels):
        if ch is None:
            continue
        if ch.id in seen:
            issues.append(
                ConfigIssue(("channels", i, "id"), ch.id, f"duplicate of channels[{seen[ch.id]}]")
            )
        seen.setdefault(ch.id, i)
    names: dict[str, int] = {}
    produced: dict[str, str] = {}
    for d, drv in enumerate(config.drivers):
        if drv is None:
            continue
        if drv.name in names:
            issues.append(
                ConfigIssue(
                    ("drivers", d, "name"), drv.name, f"duplicate of drivers[{names[drv.name]}]"
                )
            )
        names.setdefault(drv.name, d)
        for where, channel in drv.channel_refs():
            path: tuple[PathElem, ...] = ("drivers", d, *where)
            if channel not in seen:
                issues.append(
                    ConfigIssue(
                        path, channel, f"channel {channel!r} is not declared in [[channels]]"
                    )
                )
            elif channel in produced:
                issues.append(
                    ConfigIssue(
                        path,
                        channel,
                        f"channel {channel!r} is also produced by {produced[channel]!r}",
                    )
                )
            produced.setdefault(channel, drv.name)
    issues += _check_rule_kinds(config, seen, kinds or default_rule_kinds())
    first: dict[str, int] = {}
    for o, out in enumerate(config.outputs.plugins):  # names are their status and fault keys
        if out.name in first:
            where = ("outputs", "plugins", o, "name")
            issues.append(
                ConfigIssue(where, out.name, f"duplicate of outputs.plugins[{first[out.name]}]")
            )
        first.setdefault(out.name, o)
    return issues


def _check_rule_kinds(
    config: BoxConfigBase, seen: dict[str, int], kinds: RuleKinds
) -> list[ConfigIssue]:
    """Each kind's own cross-field checks; relays name channels or sources a site kind
    provides (e.g. vote:ID)."""
    issues = [
        ConfigIssue(i.path, i.value, i.reason)
        for kind in (*kinds.channel, *kinds.site)
        for i in kind.check(config)
    ]
    sources = {s for kind in kinds.site for s in kind.sources(config)}
    also = ", ".join(f"{kind.prefix}:ID" for kind in kinds.site)
    for r, relay in enumerate(config.outputs.relays):
        for c, channel in enumerate(relay.channels):
            if channel not in seen and channel not in sources:
                issues.append(
                    ConfigIssue(
                        ("outputs", "relays", r, "channels", c),
                        channel,
                        f"not a declared channel (or {also})" if also else "not a declared channel",
                    )
                )
    return issues


def _issue_from_pydantic(err: Any, data: Any, text: str) -> ConfigIssue:
    path = _real_path(err["loc"], data)
    value = err.get("input", _MISSING) if err["type"] != "missing" else _MISSING
    reason = err["msg"].removeprefix("Value error, ")
    problem = err.get("ctx", {}).get("error")
    if isinstance(problem, FieldProblem):  # a model validator naming the field inside its model
        path = (*path, *problem.path)
        value = _value_at(data, path)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # Point at the discriminator field itself (e.g. drivers[0].type), not the section.
        tag = err.get("ctx", {}).get("discriminator", "'type'").strip("'")
        path = (*path, tag)
        value = value.get(tag, _MISSING) if isinstance(value, dict) else value
        if err["type"] == "union_tag_not_found":
            reason = f"missing: this table needs '{tag}' (for drivers: safetybox drivers list)"
    if err["type"] == "extra_forbidden":
        reason = "unknown key (check the spelling; unknown keys are not ignored)"
    return ConfigIssue(path, value, reason, locate(text, path))


def _value_at(data: Any, path: Sequence[PathElem]) -> Any:
    node = data
    for elem in path:
        try:
            node = node[elem]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _real_path(loc: Sequence[PathElem], data: Any) -> tuple[PathElem, ...]:
    """Drop pydantic's union-tag elements (e.g. the ``sim`` in ``drivers.0.sim.points``)."""
    out: list[PathElem] = []
    node = data
    for elem in loc:
        if isinstance(node, dict) and isinstance(elem, str) and elem not in node:
            if elem in node.values() or "[" in elem:
                continue
        out.append(elem)
        try:
            node = node[elem]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(out)
