"""Third-party plug-ins as another package would ship them (loaded through entry points in the
tests): a CLI command group, and more below as the core grows kinds."""

from __future__ import annotations

import click


@click.group(name="hello")
def hello() -> None:
    """An example plug-in command group."""


@hello.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def world(as_json: bool) -> None:
    """Say hello."""
    click.echo('{"hello": "world"}' if as_json else "hello, world")


not_a_command = "just a string"


# -- a record type of its own, and a driver that emits it ---------------------------------------
# (as a noise-monitoring package would ship: no line of the box's core knows "noise")

import threading  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import ClassVar, Literal  # noqa: E402

from pydantic import Field  # noqa: E402

from box.core.records import now_ms  # noqa: E402
from drivers.base import Driver, DriverConfig  # noqa: E402


@dataclass(slots=True, frozen=True)
class NoiseLevel:
    RECORD_TYPE: ClassVar[str] = "noise"
    RECORD_KEY: ClassVar[str] = "meter"
    meter: str
    ts_ms: int
    dba: float


@dataclass(frozen=True)
class NotARecord:  # no RECORD_TYPE: refused by the registry
    ts_ms: int


class NoiseDriverConfig(DriverConfig):
    type: Literal["noise"]
    meter: str = Field(default="gate", json_schema_extra={"x-zh": "噪声计"})
    interval_s: float = Field(default=0.05, json_schema_extra={"x-zh": "采样周期(秒)"})


class NoiseDriver(Driver):
    type_key = "noise"
    config_model = NoiseDriverConfig

    def run(self, stop: threading.Event) -> None:
        assert isinstance(self.config, NoiseDriverConfig)
        level = 60.0
        while not stop.wait(self.config.interval_s):
            level = 60.0 if level > 80 else level + 1.5
            self.sink([NoiseLevel(self.config.meter, now_ms(), level)])
