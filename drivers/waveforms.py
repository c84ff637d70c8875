"""Declarative signal shapes for simulated channels: value as a function of elapsed seconds."""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import Field

from box.core.model import StrictModel


class Constant(StrictModel):
    shape: Literal["constant"]
    value: float


class Sine(StrictModel):
    shape: Literal["sine"]
    mean: float
    amplitude: float
    period_s: float = Field(gt=0)

    def at(self, t: float) -> float:
        return self.mean + self.amplitude * math.sin(2 * math.pi * t / self.period_s)


class Ramp(StrictModel):
    """Rises from ``start`` at ``slope_per_s``; restarts every ``period_s`` if given."""

    shape: Literal["ramp"]
    start: float
    slope_per_s: float
    period_s: float | None = Field(default=None, gt=0)

    def at(self, t: float) -> float:
        if self.period_s:
            t = t % self.period_s
        return self.start + self.slope_per_s * t


class Step(StrictModel):
    """``before`` until ``at_s``, then ``after`` until ``back_at_s`` (if given); repeats every
    ``period_s`` if given. The demo's scripted gas leak is one of these."""

    shape: Literal["step"]
    before: float
    after: float
    at_s: float = Field(ge=0)
    back_at_s: float | None = Field(default=None, gt=0)
    period_s: float | None = Field(default=None, gt=0)

    def at(self, t: float) -> float:
        if self.period_s:
            t = t % self.period_s
        if t < self.at_s or (self.back_at_s is not None and t >= self.back_at_s):
            return self.before
        return self.after


class Noise(StrictModel):
    shape: Literal["noise"]
    mean: float
    stddev: float = Field(ge=0)


Waveform = Annotated[Constant | Sine | Ramp | Step | Noise, Field(discriminator="shape")]


class Dropout(StrictModel):
    """The device goes silent for ``for_s`` seconds every ``every_s`` seconds."""

    every_s: float = Field(gt=0)
    for_s: float = Field(gt=0)
    offset_s: float = Field(default=0, ge=0)
    mode: Literal["silent", "bad_quality"] = Field(
        default="silent",
        description="silent: no readings at all (the box faults after stale_after_s); "
        "bad_quality: readings without a value, as a bus driver reports a unit that does not "
        "answer (the box faults at once)",
    )

    def active(self, t: float) -> bool:
        return ((t - self.offset_s) % self.every_s) < self.for_s and t >= self.offset_s


class Signal:
    """Evaluates one waveform plus optional gaussian noise, with its own seeded generator."""

    def __init__(self, waveform: Waveform, noise: float = 0.0, seed: int = 0) -> None:
        self.waveform = waveform
        self.noise = noise
        self.rng = random.Random(seed)

    def value(self, t: float) -> float:
        w = self.waveform
        if isinstance(w, Constant):
            v = w.value
        elif isinstance(w, Noise):
            v = self.rng.gauss(w.mean, w.stddev)
        else:
            v = w.at(t)
        if self.noise:
            v += self.rng.gauss(0.0, self.noise)
        return v
