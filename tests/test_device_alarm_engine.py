"""Defence in depth (issue 12 item 2): the device's own alarm bits raise the box's alarm
whatever the decoded value says, and a lasting disagreement between the bits and the box's
evaluation is a fault that says what to check. The readings come from the project's Modbus
simulator over a real pseudo-terminal, serving 0.35 %CH4 in the wrong word order."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.records import Quality, Reading
from drivers.modbus.profiles import _load
from sim.modbus_slave import DeviceSim
from tests.alarm_harness import T0, Box
from tests.test_device_alarm import MINE, _fresh, _mine_bus
from tests.test_modbus_field import Bus

FACE = """
[[channels]]
id = "face1.ch4"
kind = "gas_vol"
unit = "%CH4"
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 0.5, level = 2 }, { name = "A2", at = 1.0, level = 1 }]
deadband = 0.05
"""


@pytest.fixture
def box() -> Iterator[Box]:
    b = Box(FACE)
    yield b
    b.close()


@pytest.fixture
def buses() -> Iterator[list[Bus]]:
    made: list[Bus] = []
    yield made
    for b in made:
        b.close()


def _feed(box: Box, t: float, r: Reading) -> None:
    box.clock.t = T0 + t
    box.engine.process([dataclasses.replace(r, ts_ms=int((T0 + t) * 1000))])
    box.engine.tick()


def test_a_word_swapped_value_still_raises_through_the_device_bits_and_faults(
    buses: list[Bus], tmp_path: Path, box: Box
) -> None:
    dev = DeviceSim(
        _load(MINE, "mine"), 5, base=0.7, noise=0, word_swap=True, setpoints={"A1": 0.5, "A2": 1.0}
    )
    bus = _mine_bus(buses, tmp_path, dev)
    absurd = _fresh(bus, "face1.ch4")
    assert absurd.quality == Quality.GOOD and abs(absurd.value or 0) < 1e-3
    assert absurd.device_alarm == "A1"

    _feed(box, 0, absurd)
    assert box.state_of("face1.ch4:A1") == "active_unack", "the device's A1 raises the box's A1"
    raised = next(e for e in box.events if e.kind == "alarm_raised")
    assert raised.details["detail"]["cause"] == "device_alarm"
    assert raised.details["detail"]["device_alarm"] == "A1"
    assert box.outputs.states()["buzzer"]["mode"] != "off"
    assert box.state_of("face1.ch4:device_mismatch") == "normal", "not before the delay"
    _feed(box, 3, absurd)
    assert box.state_of("face1.ch4:device_mismatch") == "normal"
    _feed(box, 6, absurd)
    assert box.state_of("face1.ch4:device_mismatch") == "active_unack"
    fault = next(e for e in box.events if e.details.get("alarm") == "face1.ch4:device_mismatch")
    assert (
        "word order" in fault.details["detail"]["reason"]
        and "sensors verify" in fault.details["detail"]["reason"]
    )

    dev.value_override = 1.18  # above the power-off setpoint: the device says A2
    a2 = _fresh(bus, "face1.ch4", lambda r: r.device_alarm == "A2")
    _feed(box, 7, a2)
    assert box.state_of("face1.ch4:A2") == "active_unack", "level 1 whatever the value says"

    dev.value_override = 0.1  # swapped, this decodes outside the valid range: a bad reading
    calm = _fresh(bus, "face1.ch4", lambda r: r.device_alarm == "")
    assert calm.quality == Quality.BAD
    _feed(box, 8, calm)
    assert box.state_of("face1.ch4:A2") == "normal" and box.state_of("face1.ch4:A1") == "normal"
    # The technician fixes the word order: value and bits agree again, the fault clears.
    fixed = dataclasses.replace(calm, value=0.1, quality=Quality.GOOD, reason="")
    for t in (9, 15):
        _feed(box, t, fixed)
    assert box.state_of("face1.ch4:device_mismatch") == "normal"


def test_a_device_alarm_with_a_bad_value_still_raises(box: Box) -> None:
    r = Reading("face1.ch4", 0, None, Quality.BAD, reason="sensor fault", device_alarm="A2")
    _feed(box, 0, r)
    assert box.state_of("face1.ch4:A2") == "active_unack"
    assert box.state_of("face1.ch4:A1") == "active_unack", "A2 implies A1"


def test_calibration_gas_does_not_raise_through_the_bits(box: Box) -> None:
    r = Reading(
        "face1.ch4", 0, None, Quality.BAD, reason="calibration in progress", device_alarm="A1"
    )
    _feed(box, 0, r)
    assert box.state_of("face1.ch4:A1") == "normal"


def test_the_box_alarming_while_the_device_is_silent_is_a_fault_too(box: Box) -> None:
    loud = Reading("face1.ch4", 0, 0.7, Quality.GOOD, device_alarm="")
    for t in (0, 3, 6):
        _feed(box, t, loud)
    assert box.state_of("face1.ch4:A1") == "active_unack"
    assert box.state_of("face1.ch4:device_mismatch") == "active_unack"
    fault = next(e for e in box.events if e.details.get("alarm") == "face1.ch4:device_mismatch")
    assert "device signals no alarm" in fault.details["detail"]["reason"]


def test_without_device_bits_nothing_changes(box: Box) -> None:
    for t in (0, 6, 12):
        _feed(box, t, Reading("face1.ch4", 0, 0.7, Quality.GOOD))
    assert box.state_of("face1.ch4:A1") == "active_unack"
    assert box.state_of("face1.ch4:device_mismatch") == "normal"
