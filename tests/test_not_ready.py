"""Warm-up, calibration and alarms inhibited at the device are shown as such (issue 12 item
4): the channel is not ready (yellow, silent), not faulty with a chirp; it does not go stale
while the device keeps saying so; a real fault beside it is still a fault."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from box.core.records import Quality, Reading
from tests.alarm_harness import T0, Box

CH = """
[[channels]]
id = "g"
kind = "gas_lel"
unit = "%LEL"
[channels.alarms]
stale_after_s = 10
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 25.0, level = 2 }]
"""


@pytest.fixture
def box() -> Iterator[Box]:
    b = Box(CH)
    yield b
    b.close()


def _bad(box: Box, t: float, reason: str) -> None:
    box.clock.t = T0 + t
    box.engine.process([Reading("g", int((T0 + t) * 1000), None, Quality.BAD, reason=reason)])
    box.engine.tick()


@pytest.mark.parametrize(
    "reason", ["warming up", "calibration in progress", "alarms inhibited at the device"]
)
def test_a_device_working_as_designed_is_not_ready_not_faulty(box: Box, reason: str) -> None:
    box.read(0, "g", 5.0)
    for t in range(1, 30, 2):  # longer than stale_after_s: the device keeps answering
        _bad(box, t, reason)
    assert box.state_of("g:not_ready") == "active_unack"
    assert box.state_of("g:fault") == "normal", "not a sensor fault"
    ann = box.engine.annunciation
    assert ann is not None and ann.buzzer == "off", "no chirp"
    assert ann.yellow == "on" and ann.green == "off", "reduced coverage is visible"
    raised = next(e for e in box.events if e.details.get("alarm") == "g:not_ready")
    assert raised.details["level"] == 4 and raised.details["detail"]["reason"] == reason
    box.read(31, "g", 5.0)
    assert box.state_of("g:not_ready") == "normal" and box.engine.annunciation.green == "on"


def test_a_real_fault_beside_warm_up_is_a_fault(box: Box) -> None:
    _bad(box, 0, "warming up; sensor open circuit (fault code 1)")
    assert box.state_of("g:fault") == "active_unack"
    assert box.state_of("g:not_ready") == "normal"
    assert box.engine.annunciation.buzzer == "chirp"


def test_silence_during_warm_up_still_goes_stale(box: Box) -> None:
    _bad(box, 0, "warming up")
    box.at(12)  # nothing heard for longer than stale_after_s
    assert box.state_of("g:fault") == "active_unack"
