"""Drive the configured plug-in outputs next to the GPIO ones, each fenced off from the rest.

An output that raises (on build, apply, states or close) is logged and reported as a fault once
per exception type; it never stops the alarms or the other outputs. The
GPIO pins are always set first, so a slow plug-in cannot delay the buzzer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from box.alarms.annunciation import Annunciation
from box.alarms.output_kinds import (
    AlarmView,
    Output,
    OutputConfig,
    OutputContext,
    OutputKinds,
    OutputState,
    StatusValue,
)
from box.alarms.outputs import OutputController

log = logging.getLogger(__name__)

PREFIX = "plugin:"  # status and fault names: "plugin:NAME" beside "buzzer", "relay:NAME"
SLOW_APPLY_S = 0.05  # longer than this in apply() delays the next readings: say so, once

Fault = Callable[[str, str], None]  # (output name, message)
Unavailable = Callable[[str, str, str], None]  # (output name, type, why)


@dataclass
class _Slot:
    config: OutputConfig
    output: Output | None  # None: its kind is not loaded, or building it failed
    error: str = ""  # why it is not running, or its last error
    reported: set[str] = field(default_factory=set)  # exception types already reported


class PluginOutputs:
    """The ``[[outputs.plugins]]`` outputs, by name. Runs on the core thread."""

    def __init__(
        self,
        kinds: OutputKinds,
        configs: Sequence[OutputConfig] = (),
        on_fault: Fault | None = None,
        on_unavailable: Unavailable | None = None,
    ) -> None:
        self.kinds = kinds
        self.on_fault: Fault = on_fault or (lambda name, msg: None)
        self.on_unavailable: Unavailable = on_unavailable or (lambda name, kind, why: None)
        self.slots: dict[str, _Slot] = {}
        self.last: OutputState | None = None
        self.reconfigure(configs)

    def reconfigure(self, configs: Sequence[OutputConfig]) -> None:
        """Rebuild only the outputs whose settings changed; new ones get the current state."""
        wanted = {c.name: c for c in configs}
        for name, slot in list(self.slots.items()):
            if wanted.get(name) != slot.config:
                self._close(name, slot)
                del self.slots[name]
        for name, cfg in wanted.items():
            if name not in self.slots:
                self.slots[name] = slot = self._build(cfg)
                if self.last is not None:
                    self._apply(name, slot, self.last)

    def apply(self, state: OutputState) -> None:
        if state == self.last:
            return  # the GPIO outputs were rebuilt: the plug-ins already have this state
        self.last = state
        for name, slot in self.slots.items():
            self._apply(name, slot, state)

    def states(self) -> dict[str, dict[str, StatusValue]]:
        out: dict[str, dict[str, StatusValue]] = {}
        for name, slot in list(self.slots.items()):  # the web thread reads while a reload runs
            shown: dict[str, StatusValue] = {"type": slot.config.type, "error": slot.error}
            # A mode for the dashboard even if the kind reports none; its own overrides it.
            shown["mode"] = "error" if slot.error else "running"
            if slot.output is None:
                shown["mode"] = "unavailable"
            else:
                try:
                    shown.update(slot.output.states())
                except Exception as exc:  # noqa: BLE001 - the status page must still load
                    shown["error"] = f"states(): {type(exc).__name__}: {exc}"
            out[PREFIX + name] = shown
        return out

    def close(self) -> None:
        for name, slot in self.slots.items():
            self._close(name, slot)
        self.slots.clear()

    # -- internals ---------------------------------------------------------------------------

    def _build(self, cfg: OutputConfig) -> _Slot:
        kind = self.kinds.kinds.get(cfg.type)
        if kind is None:
            why = self.kinds.failed.get(cfg.type, "not installed")
            log.error("output %s: kind %r unavailable (%s): not run", cfg.name, cfg.type, why)
            self.on_unavailable(cfg.name, cfg.type, why)
            return _Slot(cfg, None, f"kind {cfg.type!r} unavailable: {why}")
        name = PREFIX + cfg.name
        ctx = OutputContext(fault=lambda message: self.on_fault(name, message))
        slot = _Slot(cfg, None)
        try:
            slot.output = kind.build(cfg, ctx)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not stop the alarms
            self._failed(cfg.name, slot, "build", exc)
        return slot

    def _apply(self, name: str, slot: _Slot, state: OutputState) -> None:
        if slot.output is None:
            return
        started = time.monotonic()
        try:
            slot.output.apply(state)
        except Exception as exc:  # noqa: BLE001 - one output's failure is its own
            self._failed(name, slot, "apply", exc)
            return
        took = time.monotonic() - started
        if took > SLOW_APPLY_S and "slow" not in slot.reported:
            slot.reported.add("slow")
            log.warning("output %s: apply() took %.3f s, delaying the alarm path", name, took)
        if slot.error:  # kept reported: a flapping output must not flood the event log
            log.info("output %s works again", name)
            slot.error = ""

    def _close(self, name: str, slot: _Slot) -> None:
        if slot.output is None:
            return
        try:
            slot.output.close()
        except Exception as exc:  # noqa: BLE001 - the others must still be closed
            self._failed(name, slot, "close", exc)

    def _failed(self, name: str, slot: _Slot, step: str, exc: Exception) -> None:
        slot.error = f"{step}(): {type(exc).__name__}: {exc}"
        key = f"{step}:{type(exc).__name__}"
        if key in slot.reported:
            return
        slot.reported.add(key)
        log.error("output %s failed in %s", name, step, exc_info=exc)
        self.on_fault(PREFIX + name, slot.error)


class Annunciators:
    """The engine's output sink: the GPIO outputs first, then the plug-in ones."""

    def __init__(self, gpio: OutputController, plugins: PluginOutputs) -> None:
        self.gpio = gpio
        self.plugins = plugins

    def apply(self, annunciation: Annunciation, alarms: Sequence[AlarmView] = ()) -> None:
        self.gpio.apply(annunciation)
        self.plugins.apply(OutputState(annunciation, tuple(alarms)))
