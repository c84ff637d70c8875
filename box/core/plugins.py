"""One plugin registry: every kind of extension is an entry-point group, loaded the same way.

A plugin that fails to import (or is not what its group expects) is reported by name and
skipped; the rest runs. Built-in parts register through the same groups as third-party
packages, so a new driver, rule kind, output, record type, web area or CLI group is a module of
its own plus one entry-point line in its package's setup.cfg.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

# The groups, by kind: what an entry point of each must name.
DRIVERS = "safetybox.drivers"  # a drivers.base.Driver subclass; its name is its type key
RULES = "safetybox.rules"  # a box.alarms.kinds.RuleKind; its name is its config key
OUTPUTS = "safetybox.outputs"  # a box.alarms.output_kinds.OutputKind
RECORDS = "safetybox.records"  # a record class (box.core.records.Record)
WEB = "safetybox.web"  # a module with a Flask blueprint ``bp`` (and optionally ``NAV``)
CLI = "safetybox.cli"  # a click command or group
DETECTORS = "safetybox.detectors"  # a vision backend factory (vision.backends.Backend)
GROUPS = (DRIVERS, RULES, OUTPUTS, RECORDS, WEB, CLI, DETECTORS)

T = TypeVar("T")
Check = Callable[[str, Any], str]
"""Given (entry-point name, loaded object): "" if acceptable, else why not."""


@dataclass
class Loaded(Generic[T]):
    """The plugins of one group: loaded ones by name, and the names that failed with why."""

    group: str
    items: dict[str, T] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, item: T) -> None:
        self.items[name] = item


def load(group: str, check: Check | None = None, builtins: dict[str, T] | None = None) -> Loaded[T]:
    """Load every entry point of ``group`` (after ``builtins``, which entry points may not
    replace: a plugin cannot silently swap a safety function for its own)."""
    result: Loaded[T] = Loaded(group, dict(builtins or {}))
    for ep in _entry_points(group):
        if ep.name in result.items:
            if _is_the_builtin(ep, result.items[ep.name]):
                continue  # a built-in also listed in setup.cfg (an installed package) is no clash
            result.failed[ep.name] = f"{ep.value}: the name is taken by a built-in"
            log.error("%s plug-in %r ignored: the name is taken by a built-in", group, ep.name)
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure must not stop the others
            result.failed[ep.name] = f"{type(exc).__name__}: {exc}"
            log.error("%s plug-in %r (%s) failed to import: %s", group, ep.name, ep.value, exc)
            continue
        why = check(ep.name, obj) if check else ""
        if why:
            result.failed[ep.name] = f"{ep.value}: {why}"
            log.error("%s plug-in %r (%s) not loaded: %s", group, ep.name, ep.value, why)
            continue
        result.add(ep.name, obj)
    return result


def _is_the_builtin(ep: EntryPoint, builtin: object) -> bool:
    try:
        return ep.load() is builtin
    except Exception:  # noqa: BLE001 - then it is a clash, reported by the caller
        return False


def import_builtins(
    paths: tuple[str, ...] | list[str], name_of: Callable[[Any], str], check: Check
) -> tuple[dict[str, Any], dict[str, str]]:
    """Built-in parts named by ``"module:attribute"`` paths in code (like ``box.web.AREAS``):
    (loaded by name, failed by path). One that fails is reported and the others load."""
    items: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for path in paths:
        module, _, attr = path.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # noqa: BLE001 - a broken part must not stop the others
            failed[path] = f"{type(exc).__name__}: {exc}"
            log.error("built-in %s failed to import: %s", path, exc)
            continue
        name = name_of(obj)
        why = check(name, obj)
        if why:
            failed[path] = why
            log.error("built-in %s not loaded: %s", path, why)
            continue
        items[name] = obj
    return items, failed


def _entry_points(group: str) -> list[EntryPoint]:
    return sorted(entry_points(group=group), key=lambda ep: ep.name)


def subclass_of(base: type) -> Check:
    def check(name: str, obj: Any) -> str:
        if isinstance(obj, type) and issubclass(obj, base):
            return ""
        return f"is not a {base.__name__} subclass"

    return check


def instance_of(kind: type) -> Check:
    def check(name: str, obj: Any) -> str:
        return "" if isinstance(obj, kind) else f"is not a {kind.__name__}"

    return check
