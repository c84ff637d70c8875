"""The minimal limit rule stage, as tables of (values -> events)."""

from __future__ import annotations

import pytest

from box.config.schema import ChannelConfig, LimitRule
from box.readings import Quality, Reading
from box.rules.limits import LimitStage


def stage(**limit: float) -> LimitStage:
    return LimitStage([ChannelConfig(id="c", kind="o2", unit="%", limit=LimitRule(**limit))])


def run(st: LimitStage, values: list[float | None], quality: Quality = Quality.GOOD) -> list[str]:
    out = []
    for i, v in enumerate(values):
        out += [
            f"{i}:{e.kind}:{e.details['limit']}" for e in st.evaluate(Reading("c", i, v, quality))
        ]
    return out


@pytest.mark.parametrize(
    ("limit", "values", "expected"),
    [
        ({"high": 25}, [10, 24.9, 25, 30, 24], ["2:limit_exceeded:high", "4:limit_cleared:high"]),
        # deadband: chatter around the limit gives one event, not one per crossing
        ({"high": 25, "deadband": 2}, [26, 24, 25.5, 23.5, 22.9, 25],
         ["0:limit_exceeded:high", "4:limit_cleared:high", "5:limit_exceeded:high"]),
        # falling limit (O2 deficiency) and rising limit on one channel
        ({"low": 19.5, "high": 23.5, "deadband": 0.2}, [20.9, 19.5, 19.6, 19.8, 23.6, 23.2],
         ["1:limit_exceeded:low", "3:limit_cleared:low", "4:limit_exceeded:high",
          "5:limit_cleared:high"]),
        ({"high": 25}, [10, None, 30, None, 10], ["2:limit_exceeded:high", "4:limit_cleared:high"]),
    ],
)  # fmt: skip
def test_limit_events(limit: dict, values: list, expected: list[str]) -> None:
    assert run(stage(**limit), values) == expected


def test_bad_quality_values_are_ignored() -> None:
    assert run(stage(high=25), [30, 40], quality=Quality.BAD) == []
    assert run(stage(high=25), [30], quality=Quality.UNCERTAIN) == ["0:limit_exceeded:high"]


def test_event_carries_value_threshold_and_level() -> None:
    (ev,) = stage(high=25).evaluate(Reading("c", 7, 31.5))
    assert ev.ts_ms == 7 and ev.level == 2 and ev.source == "channel:c"
    assert ev.details == {"channel": "c", "limit": "high", "threshold": 25, "value": 31.5}


def test_reconfigure_keeps_active_state_and_drops_removed_limits() -> None:
    st = stage(high=25)
    run(st, [30])
    st.reconfigure([ChannelConfig(id="c", kind="o2", unit="%", limit=LimitRule(high=20))])
    assert st.active_sides("c") == ["high"]
    assert run(st, [19]) == ["0:limit_cleared:high"]
    st.reconfigure([ChannelConfig(id="c", kind="o2", unit="%")])
    assert st.active_sides("c") == [] and run(st, [99]) == []
