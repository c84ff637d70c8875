"""The driver interface and the registry that finds drivers through entry points.

A driver only talks to its hardware and hands records (readings, ...) to a sink; it knows
nothing of rules, storage or MQTT. Built-in drivers are registered through the same
``safetybox.drivers`` entry-point group that third-party packages use.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from box.core import plugins
from box.core.model import Identifier, StrictModel
from box.core.ports import RecordSink

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = plugins.DRIVERS


class DriverConfig(StrictModel):
    """Fields every driver instance has; a driver subclasses this with ``type: Literal[KEY]``."""

    type: str
    name: Identifier
    enabled: bool = True

    def channel_ids(self) -> list[str]:
        """Channels this instance produces, so the config can check they are declared."""
        return []

    def channel_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(path inside this table, channel id) per channel produced, so a config error names
        the key that refers to the channel; drivers that know their keys override it."""
        return [((), channel) for channel in self.channel_ids()]


class Driver(ABC):
    """One configured driver instance, run in its own supervised thread.

    The supervisor calls :meth:`start`, then :meth:`run` until it returns or raises, then
    :meth:`stop`. A raise is logged, stored as a fault event and retried with backoff.
    """

    type_key: ClassVar[str]
    config_model: ClassVar[type[DriverConfig]]

    def __init__(self, config: DriverConfig, sink: RecordSink) -> None:
        self.config = config
        self.sink = sink

    def start(self) -> None:  # noqa: B027 - optional hook
        """Open ports or connections. Runs in the driver's thread."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Read until ``stop`` is set. Every wait must be bounded so stop is noticed promptly."""

    def notice(self, event: Any) -> None:  # noqa: B027 - optional hook
        """Every alarm event of the box (a ``box.core.records.Event``), on the core thread: a
        driver that acts on some (a camera taking a snapshot for an alarm that names it) only
        queues the work here, never blocks."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` opened. Must not raise."""

    def diagnostics(self) -> dict[str, Any]:
        """What a technician needs to see (last frames, error counters); drivers add theirs."""
        return {}

    def restart_backoff(self, start_s: float, max_s: float) -> tuple[float, float]:
        """(first, longest) delay before a restart; a driver with its own limits overrides."""
        return start_s, max_s


# Built-in drivers, also listed in setup.cfg: found without a reinstall, like the rule kinds.
BUILTIN_DRIVERS = (
    "drivers.simulated:SimDriver",
    "drivers.modbus.driver:ModbusDriver",
    "box.workers.driver:ProcessDriver",
    "drivers.uwb.dwm1001:Dwm1001Driver",
    "drivers.uwb.linktrack_driver:LinkTrackDriver",
    "drivers.uwb.json_driver:JsonSourceDriver",
)


@dataclass
class DriverRegistry:
    """Driver classes by type key, plus those that failed to import (name -> reason)."""

    drivers: dict[str, type[Driver]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def register(self, cls: type[Driver]) -> None:
        self.drivers[cls.type_key] = cls

    def config_models(self) -> list[type[DriverConfig]]:
        return [cls.config_model for cls in self.drivers.values()]

    @classmethod
    def from_entry_points(cls, builtin_paths: tuple[str, ...] = BUILTIN_DRIVERS) -> DriverRegistry:
        """The built-in drivers, then every installed one; one that fails to import is
        reported, not fatal."""
        builtins, failed = plugins.import_builtins(
            builtin_paths, lambda c: getattr(c, "type_key", ""), _is_builtin_driver
        )
        loaded: plugins.Loaded[type[Driver]] = plugins.load(
            plugins.DRIVERS, _is_driver_named, builtins
        )
        return cls(drivers=dict(loaded.items), failed={**failed, **loaded.failed})


def _is_builtin_driver(name: str, obj: object) -> str:
    ok = isinstance(obj, type) and issubclass(obj, Driver)
    return "" if ok else "is not a Driver subclass"


def _is_driver_named(name: str, obj: object) -> str:
    if not (isinstance(obj, type) and issubclass(obj, Driver)):
        return "is not a Driver subclass"
    if obj.type_key != name:
        return f"entry point name {name!r} differs from {obj.__name__}.type_key {obj.type_key!r}"
    return ""


_default: DriverRegistry | None = None


def default_registry() -> DriverRegistry:
    """The registry of installed drivers, loaded once per process."""
    global _default
    if _default is None:
        _default = DriverRegistry.from_entry_points()
    return _default
