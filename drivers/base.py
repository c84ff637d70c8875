"""The driver interface and the registry that finds drivers through entry points.

A driver only talks to its hardware and hands readings to a sink; it knows nothing of rules,
storage or MQTT. Built-in drivers are registered through the same ``safetybox.drivers``
entry-point group that third-party packages use.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import ClassVar

from box.core.model import Identifier, StrictModel
from box.core.records import Reading

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "safetybox.drivers"

ReadingSink = Callable[[Sequence[Reading]], None]


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

    def __init__(self, config: DriverConfig, sink: ReadingSink) -> None:
        self.config = config
        self.sink = sink

    def start(self) -> None:  # noqa: B027 - optional hook
        """Open ports or connections. Runs in the driver's thread."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Read until ``stop`` is set. Every wait must be bounded so stop is noticed promptly."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` opened. Must not raise."""

    def restart_backoff(self, start_s: float, max_s: float) -> tuple[float, float]:
        """(first, longest) delay before a restart; a driver with its own limits overrides."""
        return start_s, max_s


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
    def from_entry_points(cls) -> DriverRegistry:
        """Load every installed driver; one that fails to import is reported, not fatal."""
        registry = cls()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure must not stop the others
                registry.failed[ep.name] = f"{type(exc).__name__}: {exc}"
                log.error("driver %r failed to import: %s", ep.name, exc)
                continue
            if not (isinstance(loaded, type) and issubclass(loaded, Driver)):
                registry.failed[ep.name] = f"entry point {ep.value} is not a Driver subclass"
                continue
            if loaded.type_key != ep.name:
                registry.failed[ep.name] = (
                    f"entry point name {ep.name!r} differs from {loaded.__name__}.type_key "
                    f"{loaded.type_key!r}"
                )
                continue
            registry.register(loaded)
        return registry


_default: DriverRegistry | None = None


def default_registry() -> DriverRegistry:
    """The registry of installed drivers, loaded once per process."""
    global _default
    if _default is None:
        _default = DriverRegistry.from_entry_points()
    return _default
