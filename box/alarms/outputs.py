"""Drive the buzzer, tower light and relays through gpiozero, and read each switch back.

Fail-safe outputs are energised while all is well and de-energised on alarm; since a released
GPIO line falls back to an input (pulled low by the relay driver), they also de-energise when
the daemon dies. Only outputs whose mode changes are touched, so blinking stays regular.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from gpiozero import LED, Buzzer, OutputDevice
from gpiozero.pins.mock import MockFactory

from box.alarms import annunciation as A
from box.alarms.config import Outputs, SwitchOutput
from box.core.errors import SafetyBoxError

log = logging.getLogger(__name__)

BLINK = {A.BLINK_FAST: (0.25, 0.25), A.BLINK_SLOW: (1.0, 1.0)}  # 2 Hz and 0.5 Hz, >= 0.25 s on
BEEP = {A.INTERMITTENT: (0.5, 0.5), A.CHIRP: (0.1, 4.9)}


class OutputError(SafetyBoxError, RuntimeError):
    """The GPIO pin factory or an output cannot be set up."""


def make_pin_factory(name: str) -> Any:
    """``mock``, a gpiozero factory name, or ``auto`` (real pins on a Raspberry Pi, else mock)."""
    if name == "mock":
        return MockFactory()
    if name == "auto":
        name = os.environ.get("GPIOZERO_PIN_FACTORY", "")
        if not name:
            model = Path("/proc/device-tree/model")
            on_pi = model.exists() and b"Raspberry Pi" in model.read_bytes()
            if not on_pi:
                log.warning("no Raspberry Pi GPIO found: outputs use gpiozero mock pins")
                return MockFactory()
            name = "lgpio"
    factories = {ep.name: ep for ep in entry_points(group="gpiozero_pin_factories")}
    if name not in factories:
        raise OutputError(f"unknown GPIO pin factory {name!r}; installed: {sorted(factories)}")
    try:
        return factories[name].load()()
    except Exception as exc:  # noqa: BLE001 - any backend failure becomes one clear message
        raise OutputError(f"GPIO pin factory {name!r} failed to start: {exc}") from exc


class OutputController:
    def __init__(
        self,
        cfg: Outputs,
        factory: Any = None,
        on_fault: Callable[[str, str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.factory = factory if factory is not None else make_pin_factory(cfg.pin_factory)
        self.on_fault = on_fault or (lambda name, msg: None)
        self.readback_failures = 0
        self.forced: dict[str, bool] = {}
        self.last: A.Annunciation | None = None
        f = self.factory
        self.devices: dict[str, Any] = {}
        self.modes: dict[str, str] = {}
        self.switches: dict[str, SwitchOutput] = {}
        if cfg.buzzer:
            self.devices["buzzer"] = Buzzer(
                cfg.buzzer.pin, active_high=cfg.buzzer.active_high, pin_factory=f
            )
        for colour in ("red", "yellow", "green"):
            lamp = getattr(cfg.tower, colour)
            if lamp is not None:
                self.devices[colour] = LED(lamp.pin, active_high=lamp.active_high, pin_factory=f)
        relays: list[tuple[str, SwitchOutput]] = [(f"relay:{r.name}", r) for r in cfg.relays]
        if cfg.fault_relay:
            relays.append(("fault_relay", cfg.fault_relay))
        for name, sw in relays:
            self.switches[name] = sw
            # Everything starts de-energised: a fail-safe relay is energised only once the
            # engine, with any alarm restored from before a restart, says all is well.
            self.devices[name] = OutputDevice(
                sw.pin, active_high=sw.active_high, initial_value=False, pin_factory=f
            )

    def force(self, relay: str, active: bool | None) -> None:
        """Hold a relay's alarm action on or off by remote command (None gives it back)."""
        if active is None:
            self.forced.pop(relay, None)
        else:
            self.forced[relay] = active
        if self.last is not None:
            self.apply(self.last)

    def apply(self, ann: A.Annunciation, alarms: Sequence[Mapping[str, object]] = ()) -> None:
        """Set the pins (``alarms`` is for plug-in outputs; the pins follow ``ann`` alone)."""
        self.last = ann
        wanted = {"buzzer": ann.buzzer, "red": ann.red, "yellow": ann.yellow, "green": ann.green}
        relays = {**ann.relays, **self.forced}
        wanted.update({f"relay:{k}": A.ON if v else A.OFF for k, v in relays.items()})
        wanted["fault_relay"] = A.ON if ann.fault else A.OFF
        for name, mode in wanted.items():
            dev = self.devices.get(name)
            if dev is None or self.modes.get(name) == mode:
                continue
            self._set(name, dev, mode)
            self.modes[name] = mode

    def _set(self, name: str, dev: Any, mode: str) -> None:
        if mode in BLINK:
            dev.blink(*BLINK[mode])
        elif mode in BEEP:
            dev.beep(*BEEP[mode])
        else:
            active = mode == A.ON
            switch = self.switches.get(name)
            energise = (not active) if switch is not None and switch.fail_safe else active
            dev.value = energise
            self._read_back(name, dev, energise)

    def _read_back(self, name: str, dev: Any, energise: bool) -> None:
        expected = energise == dev.active_high
        actual = bool(dev.pin.state)
        if actual != expected:
            self.readback_failures += 1
            msg = f"output {name} on pin {dev.pin} reads {int(actual)}, expected {int(expected)}"
            log.error("%s", msg)
            self.on_fault(name, msg)

    def states(self) -> dict[str, dict[str, Any]]:
        """Mode and electrical level of every output, for the status page."""
        return {
            name: {
                "pin": str(dev.pin),
                "mode": self.modes.get(name, A.OFF),
                "level": int(bool(dev.pin.state)),
                "fail_safe": bool(self.switches.get(name) and self.switches[name].fail_safe),
            }
            for name, dev in self.devices.items()
        }

    def close(self) -> None:
        """Release every pin: fail-safe outputs fall back to de-energised."""
        for dev in self.devices.values():
            dev.close()
