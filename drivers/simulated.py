"""The ``sim`` driver: channels with configurable waveforms, so demos and tests have data.

It also offers fault injection (``crash_after_s``) to exercise the daemon's supervision.
"""

from __future__ import annotations

import threading
import time
import zlib
from typing import Literal

from pydantic import Field

from box.core.model import StrictModel
from box.core.records import Quality, Reading, now_ms
from drivers.base import Driver, DriverConfig
from drivers.waveforms import Dropout, Signal, Waveform


class SimPoint(StrictModel):
    channel: str
    waveform: Waveform
    noise: float = Field(default=0.0, ge=0, description="gaussian noise added (stddev)")
    dropout: Dropout | None = None


class SimDriverConfig(DriverConfig):
    type: Literal["sim"]
    interval_s: float = Field(default=1.0, ge=0.001, le=3600, description="seconds between reads")
    points: list[SimPoint] = Field(min_length=1)
    crash_after_s: float | None = Field(
        default=None, gt=0, description="fault injection: raise after this many seconds"
    )

    def channel_ids(self) -> list[str]:
        return [p.channel for p in self.points]

    def channel_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("points", i, "channel"), p.channel) for i, p in enumerate(self.points)]


def sample(signals: list[tuple[SimPoint, Signal]], t: float, ts: int) -> list[Reading]:
    """The readings of one read at ``t`` s after start; a silent dropout yields none."""
    batch = []
    for point, signal in signals:
        dropout = point.dropout
        if dropout is None or not dropout.active(t):
            batch.append(Reading(point.channel, ts, signal.value(t), Quality.GOOD))
        elif dropout.mode == "bad_quality":
            batch.append(Reading(point.channel, ts, None, Quality.BAD))
    return batch


class SimDriver(Driver):
    """Emits one batch of readings per interval, stamped at the instant of the simulated read."""

    type_key = "sim"
    config_model = SimDriverConfig
    config: SimDriverConfig

    def run(self, stop: threading.Event) -> None:
        cfg = self.config
        signals = [
            (p, Signal(p.waveform, p.noise, seed=zlib.crc32(p.channel.encode())))
            for p in cfg.points
        ]
        started = time.monotonic()
        next_due = started
        while not stop.is_set():
            t = time.monotonic() - started
            if cfg.crash_after_s is not None and t >= cfg.crash_after_s:
                raise RuntimeError(f"simulated crash after {cfg.crash_after_s} s (crash_after_s)")
            batch = sample(signals, t, now_ms())
            if batch:
                self.sink(batch)
            # Fixed schedule: no drift; after a stall, skip missed slots instead of bursting.
            next_due += cfg.interval_s
            now = time.monotonic()
            if next_due < now:
                next_due = now
            stop.wait(next_due - now)
