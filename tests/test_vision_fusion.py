"""``[[fusion]]``: a person in a camera zone during a gas alarm escalates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from box.core.errors import ConfigError
from tests.alarm_harness import Box

CHANNELS = """
[[channels]]
id = "gate.intrusion"
kind = "other"
unit = "persons"
[channels.alarms.thresholds]
levels = [{ name = "intrusion", at = 1, level = 2 }]

[[channels]]
id = "t1.lel"
kind = "gas_lel"
unit = "%LEL"
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 25.0, level = 2 }]

[[fusion]]
id = "person_in_gas"
name = "person at the gate during a gas alarm"
all = ["gate.intrusion:intrusion", "t1.lel:A1"]
level = 1
"""


@pytest.fixture
def boxes() -> Iterator[list[Box]]:
    made: list[Box] = []
    yield made
    for b in made:
        b.close()


def test_both_alarms_escalate_and_either_alone_does_not(boxes: list[Box]) -> None:
    b = Box(CHANNELS)
    boxes.append(b)
    b.read(0, "gate.intrusion", 1).read(0, "t1.lel", 5)
    assert "fusion:person_in_gas" not in {a["id"] for a in b.engine.views}
    b.read(1, "t1.lel", 40)
    assert b.state_of("fusion:person_in_gas").startswith("active")
    assert b.engine.alarms["fusion:person_in_gas"].spec.level == 1
    b.read(2, "gate.intrusion", 0)
    assert not b.state_of("fusion:person_in_gas").startswith("active")


def test_a_member_that_is_no_alarm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fusion.0.all.1|not an alarm id"):
        Box(CHANNELS.replace('"t1.lel:A1"]', '"t1.lel:A9"]'))
