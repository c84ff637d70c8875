"""Third-party output kinds, as another package would ship them.

``log_siren`` records every state it is given (a stand-in for a Modbus siren or a PA system);
``volume`` is its one setting. ``faulty`` raises on every change, like a siren whose bus is
down. Registered with one entry-point line each, e.g.
``safetybox.outputs = log_siren = tests.example_output:KIND``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from box.alarms import annunciation as A
from box.alarms.output_kinds import (
    Output,
    OutputConfig,
    OutputContext,
    OutputKind,
    OutputState,
    StatusValue,
)

SIRENS: dict[str, LogSiren] = {}  # by name, so a test can see what each one was given


class LogSirenConfig(OutputConfig):
    type: Literal["log_siren"]
    volume: int = Field(default=80, ge=0, le=100, description="percent")


class LogSiren(Output):
    def __init__(self, cfg: LogSirenConfig) -> None:
        self.cfg = cfg
        self.states_given: list[OutputState] = []
        self.closed = False
        SIRENS[cfg.name] = self

    def apply(self, state: OutputState) -> None:
        self.states_given.append(state)

    def states(self) -> Mapping[str, StatusValue]:
        buzzer = self.states_given[-1].annunciation.buzzer if self.states_given else A.OFF
        return {"mode": buzzer, "level": int(buzzer != A.OFF), "volume": self.cfg.volume}

    def close(self) -> None:
        self.closed = True


class LogSirenKind(OutputKind[LogSirenConfig]):
    type = "log_siren"
    model = LogSirenConfig
    description = "records what it is given"

    def build(self, config: LogSirenConfig, ctx: OutputContext) -> Output:
        return LogSiren(config)


class FaultyConfig(OutputConfig):
    type: Literal["faulty"]


class Faulty(Output):
    def apply(self, state: OutputState) -> None:
        raise OSError("siren bus down")


class FaultyKind(OutputKind[FaultyConfig]):
    type = "faulty"
    model = FaultyConfig

    def build(self, config: FaultyConfig, ctx: OutputContext) -> Output:
        return Faulty()


KIND = LogSirenKind()
FAULTY = FaultyKind()
NOT_A_KIND = object()
