"""What an output kind is: a type name, a pydantic config model, and how to build its output.

The GPIO buzzer, tower light and relays are driven by ``OutputController``; anything else that
annunciates (a Modbus siren, a PA system, a networked relay board, an alarm dialler) is an
output kind, configured as ``[[outputs.plugins]]`` items discriminated by ``type`` and
registered in the ``safetybox.outputs`` entry-point group (docs/ALARMS.md, "Writing an output
kind"). A kind that fails to import is reported by name (``OutputKinds.failed``); the others run.
"""

from __future__ import annotations

import builtins
import logging
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from box.alarms.annunciation import Annunciation
from box.alarms.config import OutputConfig
from box.core import plugins

log = logging.getLogger(__name__)

__all__ = ["Output", "OutputConfig", "OutputContext", "OutputKind", "OutputKinds", "OutputState"]

C = TypeVar("C", bound=OutputConfig)
AlarmView = Mapping[str, object]  # one alarm as /api/alarms shows it (Alarm.view())
StatusValue = str | int | float | bool | None

# None ship yet: GPIO outputs are not a kind. A built-in listed here keeps its name from plug-ins.
BUILTIN_OUTPUT_KINDS: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputState:
    """What an output is given on every change of the annunciation."""

    annunciation: Annunciation
    alarms: tuple[AlarmView, ...] = ()  # as /api/alarms lists them (shared: do not modify)


@dataclass(frozen=True)
class OutputContext:
    """What an output may use besides its config. ``fault`` stores a fault event for it (e.g.
    from its own sender thread: it is thread-safe)."""

    fault: Callable[[str], None] = lambda message: None


class Output(ABC):
    """One configured plug-in output. :meth:`apply` runs on the core thread, between the pins
    and the next reading: it must return at once (hand slow work to a thread of its own). A
    raise is caught, logged once per exception type and stored as a fault event."""

    @abstractmethod
    def apply(self, state: OutputState) -> None: ...

    def states(self) -> Mapping[str, StatusValue]:
        """For the status page, e.g. ``{"mode": "continuous", "level": 1}``. Called from the
        web thread: read what ``apply`` stored, do not touch the device."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the output opened (join its thread, bounded). Must not block long."""


class OutputKind(ABC, Generic[C]):
    """``type`` is the config's ``type`` value (and the entry-point name); ``model`` its config,
    an ``OutputConfig`` subclass with ``type: Literal[<type>]``."""

    type: str
    model: builtins.type[C]  # builtins: ``type`` is the attribute above in this class body
    description: str = ""

    @abstractmethod
    def build(self, config: C, ctx: OutputContext) -> Output:
        """The output for one ``[[outputs.plugins]]`` item (on the core thread: do not block)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type!r}>"


@dataclass(frozen=True)
class OutputKinds:
    """The loaded kinds by type, and the names that failed to load with why."""

    kinds: Mapping[str, OutputKind[OutputConfig]] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)

    def config_models(self) -> tuple[type[OutputConfig], ...]:
        return tuple(k.model for k in self.kinds.values())


def _is_kind_named(name: str, obj: object) -> str:
    if not isinstance(obj, OutputKind):
        return "is not an OutputKind instance"
    if obj.type != name:
        return f"entry point name {name!r} differs from the kind's type {obj.type!r}"
    model = getattr(obj, "model", None)
    if not (isinstance(model, type) and issubclass(model, OutputConfig)):
        return "its model is not an OutputConfig subclass"
    if typing.get_args(model.model_fields["type"].annotation) != (name,):
        return f"its model's type field must be Literal[{name!r}]"
    return ""


def load_output_kinds(builtin_paths: Sequence[str] = BUILTIN_OUTPUT_KINDS) -> OutputKinds:
    """The built-in kinds, then the installed plug-ins (which may not replace a built-in)."""
    shipped, failed = plugins.import_builtins(
        list(builtin_paths), lambda k: str(getattr(k, "type", "")), _is_kind_named
    )
    loaded: plugins.Loaded[OutputKind[OutputConfig]] = plugins.load(
        plugins.OUTPUTS, _is_kind_named, shipped
    )
    failed.update(loaded.failed)
    return OutputKinds(dict(loaded.items), failed)


_default: OutputKinds | None = None


def default_output_kinds() -> OutputKinds:
    """The output kinds of this process, loaded once (like the driver registry)."""
    global _default
    if _default is None:
        _default = load_output_kinds()
    return _default
