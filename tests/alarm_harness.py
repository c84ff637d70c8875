"""A small harness for alarm tests: an injected clock, mock GPIO pins, recorded events."""

from __future__ import annotations

import json
from typing import Any

from gpiozero.pins.mock import MockFactory

from box.alarms.engine import AlarmEngine
from box.alarms.output_kinds import default_output_kinds
from box.alarms.outputs import OutputController
from box.alarms.plugin_outputs import Annunciators, PluginOutputs
from box.config.loader import parse_config
from box.core.records import Quality, Reading

T0 = 1_780_000_000.0  # 2026-05-28: outside the summer profile used in the tests

OUTPUTS = """config_version = 1
[outputs]
pin_factory = "mock"
buzzer = { pin = 17 }
tower = { red = { pin = 22 }, yellow = { pin = 23 }, green = { pin = 24 } }
fault_relay = { pin = 6, fail_safe = true }
[[outputs.relays]]
name = "valve"
pin = 5
fail_safe = true
max_level = 1
"""


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Box:
    """An engine with outputs on MockFactory pins, fed readings at chosen times."""

    def __init__(self, toml: str, saved: dict[str, str] | None = None, t: float = T0) -> None:
        self.config = parse_config(OUTPUTS + toml)
        self.clock = Clock(t)
        self.events: list[Any] = []
        self.state: dict[str, str] = dict(saved or {})
        self.factory = MockFactory()
        self.faults: list[tuple[str, str]] = []
        fault = lambda n, m: self.faults.append((n, m))  # noqa: E731
        self.outputs = OutputController(self.config.outputs, self.factory, fault)
        self.plugins = PluginOutputs(default_output_kinds(), self.config.outputs.plugins, fault)
        sink = Annunciators(self.outputs, self.plugins)
        self.engine = AlarmEngine(
            self.config, self.events.append, self.clock, self.state, self._persist, sink
        )

    def _persist(self, key: str, value: str | None) -> None:
        if value is None:
            self.state.pop(key, None)
        else:
            self.state[key] = value

    def at(self, t: float) -> Box:
        self.clock.t = T0 + t
        self.engine.tick()
        return self

    def read(self, t: float, channel: str, value: float | None, q: Quality = Quality.GOOD) -> Box:
        self.clock.t = T0 + t
        self.engine.process([Reading(channel, int((T0 + t) * 1000), value, q)])
        self.engine.tick()
        return self

    def state_of(self, alarm_id: str) -> str:
        return str(self.engine.alarms[alarm_id].state)

    def kinds(self, prefix: str = "") -> list[str]:
        return [
            f"{e.kind}:{e.details.get('alarm', '')}"
            for e in self.events
            if e.kind.startswith(prefix)
        ]

    def modes(self) -> dict[str, str]:
        return dict(self.outputs.modes)

    def level(self, name: str) -> int:
        return self.outputs.states()[name]["level"]

    def event(self, kind: str) -> dict[str, Any]:
        return next(e.details for e in self.events if e.kind == kind)

    def saved(self) -> dict[str, str]:
        return dict(self.state)

    def close(self) -> None:
        self.outputs.close()
        self.plugins.close()


def dumps(obj: Any) -> str:
    return json.dumps(obj)
