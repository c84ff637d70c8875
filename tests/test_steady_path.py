"""The steady-state path of a channel's rules (the quiet band) decides exactly what the full
evaluation decides: same events, same alarm states and values, for random readings that
cross setpoints, deadbands and the range, with delays, bad data, NaN, setpoint commands,
acknowledgements, resets and shelving in between."""

from __future__ import annotations

import math
import random

import pytest

from box.alarms.engine import AlarmEngine
from box.alarms.rules import ChannelRules
from box.config.loader import parse_config
from box.core.records import Quality, Reading

T0 = 1_780_000_000.0

CONFIG = """config_version = 1
[[channels]]
id = "gas"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 25, level = 2 }, { name = "A2", at = 50, level = 1, latching = true }]
deadband = 2.0

[[channels]]
id = "o2"
kind = "o2"
unit = "%VOL"
range = [0, 25]
[channels.alarms.thresholds]
levels = [
  { name = "LO", at = 19.5, level = 2, direction = "falling" },
  { name = "LOLO", at = 18.0, level = 1, direction = "falling" },
  { name = "HI", at = 23.5, level = 2 },
]
deadband = 0.2
on_delay_s = 2
off_delay_s = 3

[[channels]]
id = "temp"
kind = "temperature"
unit = "C"
safety = false
[[channels.alarms.sustained]]
name = "hot"
above = 80.0
for_s = 5
level = 3
"""

RANGES = {"gas": (-5.0, 110.0), "o2": (16.0, 26.0), "temp": (60.0, 90.0)}


def _run(seed: int, steady_path: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    if not steady_path:  # every reading takes the full evaluation
        monkeypatch.setattr(
            ChannelRules, "_new_band", lambda self: setattr(self, "_low", math.inf) or None
        )
    rng = random.Random(seed)
    clock = [T0]
    events: list[object] = []
    engine = AlarmEngine(parse_config(CONFIG), events.append, lambda: clock[0])
    values = {ch: (lo + hi) / 2 for ch, (lo, hi) in RANGES.items()}
    trace: list[object] = []
    for _step in range(3000):
        clock[0] += rng.choice((0.05, 0.2, 1.0))
        batch = []
        for _ in range(rng.randint(1, 6)):
            ch = rng.choice(list(RANGES))
            lo, hi = RANGES[ch]
            values[ch] = min(hi, max(lo, values[ch] + rng.gauss(0, (hi - lo) / 15)))
            value: float | None = values[ch]
            quality = Quality.GOOD
            roll = rng.random()
            if roll < 0.02:
                value, quality = None, Quality.BAD
            elif roll < 0.03:
                value = math.nan
            elif roll < 0.05:
                quality = Quality.UNCERTAIN
            batch.append(Reading(ch, int(clock[0] * 1000), value, quality))
        engine.process(batch)
        roll = rng.random()
        if roll < 0.01:
            engine.set_threshold("gas", "A1", rng.choice((20.0, 25.0, 30.0)), "test")
        elif roll < 0.02:
            engine.ack_all("test")
        elif roll < 0.025:
            engine.reset_all("test")
        elif roll < 0.03:
            alarm = rng.choice(sorted(engine.alarms))
            try:
                engine.shelve(alarm, "test", 3.0, "test")
            except Exception as exc:  # noqa: BLE001 - refused in some states: same both ways
                trace.append(type(exc).__name__)
        engine.tick()
        trace.append(
            [(a.spec.id, str(a.state), a.raw, a.effective, a.value) for a in engine.alarms.values()]
        )
    trace.append([(e.kind, e.source, e.ts_ms, sorted(e.details.items())) for e in events])
    return trace


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_steady_path_decides_as_the_full_evaluation(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _run(seed, True, monkeypatch)
    full = _run(seed, False, monkeypatch)
    assert len(fast) == len(full)
    for step, (a, b) in enumerate(zip(fast, full, strict=True)):
        assert repr(a) == repr(b), f"seed {seed}: differs at step {step}"
    assert any(e[0] == "alarm_raised" for e in fast[-1]), "the readings do raise alarms"


def test_most_readings_of_a_quiet_channel_take_the_steady_path() -> None:
    engine = AlarmEngine(parse_config(CONFIG), lambda e: None, lambda: T0)
    rules = engine.rules["gas"]
    assert rules._low < 10.0 < rules._high, "a value far from every setpoint is in the band"
    engine.set_threshold("gas", "A1", 5.0, "test")
    assert not rules._low < 10.0 < rules._high, "a setpoint command moves the band"
