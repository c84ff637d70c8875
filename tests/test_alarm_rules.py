"""Alarm rules and lifecycle as tables of (time, input) -> (alarm states, output modes).

Time comes from an injected clock, so hours of plant time take milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from box.alarms.alarm import AlarmCommandError
from box.core.records import Quality
from tests.alarm_harness import T0, Box

GAS = """
[[channels]]
id = "g"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 25, level = 2 }, { name = "A2", at = 50, level = 1, latching = true }]
deadband = 2.0
"""


@pytest.fixture
def boxes() -> Iterator[list[Box]]:
    made: list[Box] = []
    yield made
    for b in made:
        b.close()


def make(boxes: list[Box], toml: str, **kw) -> Box:
    b = Box(toml, **kw)
    boxes.append(b)
    return b


def test_two_levels_implication_outputs_ack_latch_and_reset(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 10)
    assert b.modes() == {
        "buzzer": "off",
        "red": "off",
        "yellow": "off",
        "green": "on",
        "relay:valve": "off",
        "fault_relay": "off",
    }
    assert b.level("relay:valve") == 1, "fail-safe relay energised while healthy"
    b.read(1, "g", 30)
    assert b.state_of("g:A1") == "active_unack" and b.state_of("g:A2") == "normal"
    assert b.modes()["buzzer"] == "intermittent" and b.modes()["red"] == "blink_fast"
    assert b.modes()["green"] == "off" and b.level("relay:valve") == 1  # level 2: no valve
    b.read(2, "g", 55)
    assert b.state_of("g:A2") == "active_unack" and b.state_of("g:A1") == "active_unack"
    assert b.modes()["buzzer"] == "continuous"
    assert b.level("relay:valve") == 0, "level 1 de-energises the fail-safe valve relay"
    b.engine.ack("g:A2", "alice", "checking")
    b.engine.ack("g:A1", "alice")
    assert b.modes()["buzzer"] == "off" and b.modes()["red"] == "on", "acked: steady red"
    b.read(3, "g", 20)  # gas gone
    assert b.state_of("g:A1") == "normal", "A1 is non-latching"
    assert b.state_of("g:A2") == "latched", "A2 latches until reset"
    assert b.level("relay:valve") == 0, "the valve stays closed while A2 is latched"
    b.engine.reset("g:A2", "alice")
    assert b.state_of("g:A2") == "normal" and b.level("relay:valve") == 1
    assert b.modes()["green"] == "on" and b.modes()["red"] == "off"
    assert b.kinds("alarm_") == [
        "alarm_raised:g:A1",
        "alarm_raised:g:A2",
        "alarm_acked:g:A2",
        "alarm_acked:g:A1",
        "alarm_cleared:g:A2",
        "alarm_cleared:g:A1",
        "alarm_reset:g:A2",
    ]
    raised = b.events[0].details
    assert raised["first_out"] and raised["colour"] == "orange" and raised["value"] == 30
    assert b.events[1].level == 1 and not b.events[1].details["first_out"]
    assert b.events[2].details["who"] == "alice" and b.events[2].details["note"] == "checking"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # chatter around A1 = 25 with a 2.0 deadband: one raise, one clear
        ([26, 24.5, 25.5, 24, 23.5, 22.9, 23.5, 24.9], ["alarm_raised:g:A1", "alarm_cleared:g:A1"]),
        ([24.9, 24.99], []),
        ([25, 23.0, 25], ["alarm_raised:g:A1"]),
    ],
)
def test_hysteresis(boxes: list[Box], values: list[float], expected: list[str]) -> None:
    b = make(boxes, GAS)
    for i, v in enumerate(values):
        b.read(i, "g", v)
    assert b.kinds("alarm_") == expected


def test_deadband_as_percent_of_full_scale(boxes: list[Box]) -> None:
    b = make(boxes, GAS.replace("deadband = 2.0", "deadband_pct = 5"))
    b.read(0, "g", 26).read(1, "g", 20.5)
    assert b.state_of("g:A1") == "active_unack"
    b.read(2, "g", 19.9)
    assert b.state_of("g:A1") == "normal"


def test_falling_o2_deficiency(boxes: list[Box]) -> None:
    b = make(
        boxes,
        """
[[channels]]
id = "o2"
kind = "o2"
unit = "%VOL"
[channels.alarms.thresholds]
direction = "falling"
levels = [{ name = "LO", at = 19.5, level = 2 }, { name = "LOLO", at = 18.0, level = 1 }]
deadband = 0.2
""",
    )
    b.read(0, "o2", 20.9).read(1, "o2", 19.4)
    assert b.state_of("o2:LO") == "active_unack" and b.state_of("o2:LOLO") == "normal"
    b.read(2, "o2", 17.9)
    assert b.state_of("o2:LOLO") == "active_unack"
    b.read(3, "o2", 19.6)  # inside the deadband of LO
    assert b.state_of("o2:LO") == "active_unack" and b.state_of("o2:LOLO") == "normal"
    b.read(4, "o2", 19.8)
    assert b.state_of("o2:LO") == "normal"


O2_LOW_AND_HIGH = """
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
"""


def test_o2_low_and_high_on_one_channel(boxes: list[Box]) -> None:
    b = make(boxes, O2_LOW_AND_HIGH)

    def states() -> tuple[str, str, str]:
        return (b.state_of("o2:LO"), b.state_of("o2:LOLO"), b.state_of("o2:HI"))

    b.read(0, "o2", 20.9)
    assert states() == ("normal", "normal", "normal")
    b.read(1, "o2", 19.5)  # raise at the setpoint itself
    assert states() == ("active_unack", "normal", "normal")
    b.read(2, "o2", 17.9)
    assert states() == ("active_unack", "active_unack", "normal"), "LOLO implies LO"
    b.read(3, "o2", 19.7)  # exactly at LO + deadband: not yet past it
    assert states() == ("active_unack", "normal", "normal")
    b.read(4, "o2", 19.71)
    assert states() == ("normal", "normal", "normal")
    b.read(5, "o2", 23.49)
    assert states() == ("normal", "normal", "normal")
    b.read(6, "o2", 23.5)
    assert states() == ("normal", "normal", "active_unack"), "enrichment on the same channel"
    b.read(7, "o2", 23.3)  # exactly at HI - deadband: still in alarm
    assert b.state_of("o2:HI") == "active_unack"
    b.read(8, "o2", 23.29)
    assert states() == ("normal", "normal", "normal")
    raised = [e.details for e in b.events if e.kind == "alarm_raised"]
    assert [(d["alarm"], d["detail"]["threshold"]) for d in raised] == [
        ("o2:LO", 19.5),
        ("o2:LOLO", 18.0),
        ("o2:HI", 23.5),
    ]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ('{ name = "LO", at = 24, direction = "falling" }, { name = "HI", at = 23.5 }',
         "must all be below the rising levels"),  # overlap
        ('{ name = "LO", at = 18, direction = "falling" }, '
         '{ name = "LOLO", at = 19.5, direction = "falling" }',
         "falling thresholds need strictly decreasing 'at': [18.0, 19.5]"),
    ],
)  # fmt: skip
def test_mixed_directions_must_not_overlap(levels: str, message: str) -> None:
    from box.config.loader import ConfigInvalid, parse_config

    doc = f"""config_version = 1
[[channels]]
id = "o2"
kind = "o2"
unit = "%VOL"
alarms.thresholds.levels = [{levels}]
"""
    with pytest.raises(ConfigInvalid, match=re.escape(message)):
        parse_config(doc)


def test_set_threshold_keeps_mixed_directions_apart(boxes: list[Box]) -> None:
    b = make(boxes, O2_LOW_AND_HIGH)
    with pytest.raises(AlarmCommandError, match="must all be below the rising levels"):
        b.engine.set_threshold("o2", "HI", 19.0, "tech")
    b.engine.set_threshold("o2", "HI", 23.0, "tech")
    b.read(0, "o2", 23.0)
    assert b.state_of("o2:HI") == "active_unack"


def test_on_and_off_delays(boxes: list[Box]) -> None:
    b = make(boxes, GAS.replace("deadband = 2.0", "on_delay_s = 10\noff_delay_s = 5"))
    b.read(0, "g", 30)
    assert b.state_of("g:A1") == "normal" and b.engine.alarms["g:A1"].pending
    b.at(9.9)
    assert b.state_of("g:A1") == "normal"
    b.at(10)
    assert b.state_of("g:A1") == "active_unack"
    b.read(12, "g", 10).at(16.9)
    assert b.state_of("g:A1") == "active_unack", "OFF delay holds the alarm"
    b.at(17)
    assert b.state_of("g:A1") == "normal"
    b.read(20, "g", 30).read(25, "g", 10).at(40)
    assert b.kinds("alarm_") == ["alarm_raised:g:A1", "alarm_cleared:g:A1"], "a 5 s blip < ON delay"


def test_latching_cleared_before_ack(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 60).read(1, "g", 10)
    assert b.state_of("g:A2") == "cleared_unack"
    assert b.modes()["red"] == "blink_fast" and b.modes()["buzzer"] == "off"
    b.engine.ack("g:A2", "bob")
    assert b.state_of("g:A2") == "latched"
    b.engine.reset("g:A2", "bob")
    assert b.state_of("g:A2") == "normal"


def test_reset_refused_while_the_condition_is_present(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 60)
    b.engine.ack("g:A2", "bob")
    with pytest.raises(AlarmCommandError, match="condition is still present"):
        b.engine.reset("g:A2", "bob")
    with pytest.raises(AlarmCommandError, match="nothing to acknowledge"):
        b.engine.ack("g:A2", "bob")
    with pytest.raises(AlarmCommandError, match="no alarm 'g:A9'"):
        b.engine.ack("g:A9", "bob")


def test_silence_expires_and_rearms_on_a_new_alarm(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 30)
    assert b.modes()["buzzer"] == "intermittent"
    b.engine.silence("op", 60)
    assert b.modes()["buzzer"] == "off" and b.modes()["red"] == "blink_fast"
    b.at(59.9)
    assert b.modes()["buzzer"] == "off"
    b.at(60)
    assert b.modes()["buzzer"] == "intermittent", "re-sounds: still unacknowledged"
    b.engine.silence("op", 600)
    b.read(70, "g", 55)
    assert b.modes()["buzzer"] == "continuous", "a new alarm re-arms the silenced buzzer"


def test_shelve_needs_reason_and_expiry_and_comes_back(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 30)
    with pytest.raises(AlarmCommandError, match="needs a reason"):
        b.engine.shelve("g:A1", "tech", 1800, "  ")
    with pytest.raises(AlarmCommandError, match="exceeds the 86400 s limit"):
        b.engine.shelve("g:A1", "tech", 90000, "calibration")
    b.engine.ack("g:A1", "tech")
    b.engine.shelve("g:A1", "tech", 1800, "calibration")
    assert b.modes()["red"] == "off" and b.modes()["yellow"] == "on", "shelved shows yellow"
    view = next(v for v in b.engine.views if v["id"] == "g:A1")
    assert view["shelved"]["reason"] == "calibration" and view["shelved"]["until"] == T0 + 1800
    b.at(1799)
    assert b.engine.alarms["g:A1"].shelved is not None
    b.at(1800)
    assert b.engine.alarms["g:A1"].shelved is None
    assert b.state_of("g:A1") == "active_unack", "still there after maintenance: announced again"
    assert b.modes()["buzzer"] == "intermittent"
    assert [k for k in b.kinds("alarm_") if k.endswith(":g:A1")][-3:] == [
        "alarm_shelved:g:A1",
        "alarm_unshelved:g:A1",
        "alarm_raised:g:A1",
    ]


def test_a_shelved_alarm_shows_yellow_even_while_normal(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 10)
    b.engine.shelve("g:A2", "tech", 600, "span gas on the detector")
    assert b.modes()["yellow"] == "on", "a point that cannot sound is shown"
    assert b.modes()["green"] == "on" and b.modes()["buzzer"] == "off"
    b.engine.unshelve("g:A2", "tech")
    assert b.modes()["yellow"] == "off"


STALE = """
[[channels]]
id = "s"
kind = "gas_ppm"
unit = "ppm"
alarms = { stale_after_s = 60, escalate_after_s = 3600 }
"""


def test_offline_channel_faults_within_its_limit_and_escalates_once(boxes: list[Box]) -> None:
    b = make(boxes, STALE)
    b.at(59.9)
    assert b.state_of("s:fault") == "normal"
    b.at(60)
    assert b.state_of("s:fault") == "active_unack"
    assert b.modes()["yellow"] == "blink_slow" and b.modes()["buzzer"] == "chirp"
    assert b.level("fault_relay") == 0, "fail-safe fault relay drops on a fault"
    assert b.engine.alarms["s:fault"].detail == {"reasons": ["stale"]}
    b.at(3599)
    assert "maintenance_escalation" not in [e.kind for e in b.events]
    b.at(3600).at(7200)
    esc = [e for e in b.events if e.kind == "maintenance_escalation"]
    assert len(esc) == 1 and esc[0].details["upstream"] and esc[0].level == 3
    b.read(7300, "s", 1.0)
    assert b.state_of("s:fault") == "normal" and b.level("fault_relay") == 1


def test_process_channel_faults_too_when_silent_or_bad(boxes: list[Box]) -> None:
    """safety = false allows a longer stale_after_s; it never switches fault detection off."""
    b = make(boxes, STALE.replace("stale_after_s = 60", "stale_after_s = 600") + "safety = false\n")
    b.read(0, "s", 1.0).at(599.9)
    assert b.state_of("s:fault") == "normal"
    b.at(600)
    assert b.state_of("s:fault") == "active_unack", "a silent process channel faults"
    assert b.engine.alarms["s:fault"].detail == {"reasons": ["stale"]}
    assert b.modes()["green"] == "off" and b.modes()["yellow"] == "blink_slow"
    b.read(601, "s", 1.0)
    assert b.state_of("s:fault") == "normal"
    b.read(602, "s", None, Quality.BAD)
    assert b.state_of("s:fault") == "active_unack", "bad quality faults at once"
    assert b.engine.alarms["s:fault"].detail == {"reasons": ["quality_bad"]}


def test_a_silent_channels_last_value_is_shown_as_stale() -> None:
    from box.core.records import Reading, shown_quality

    last = Reading("p", 1_000_000, 1.2, Quality.GOOD)
    assert shown_quality(last, 1_000_000 + 59_999, 60) == "good"
    assert shown_quality(last, 1_000_000 + 60_000, 60) == "stale", "not a current 'good'"
    assert shown_quality(None, 0, 60) == "stale"


@pytest.mark.parametrize(
    ("value", "quality", "reason"),
    [
        (None, Quality.BAD, "quality_bad"),
        (5.0, Quality.BAD, "quality_bad"),
        (3.2, Quality.GOOD, "loop current 3.20 mA < 3.6 (NE43)"),
        (21.5, Quality.GOOD, "loop current 21.50 mA > 21.0 (NE43)"),
    ],
)
def test_faults_from_quality_and_ne43_bands(
    boxes: list[Box], value: float | None, quality: Quality, reason: str
) -> None:
    b = make(boxes, STALE.replace('unit = "ppm"', 'unit = "mA"\nne43 = true'))
    b.read(0, "s", 12.0)
    assert b.state_of("s:fault") == "normal"
    b.read(1, "s", value, quality)
    assert b.state_of("s:fault") == "active_unack"
    assert reason in b.engine.alarms["s:fault"].detail["reasons"]
    b.read(2, "s", 12.0)
    assert b.state_of("s:fault") == "normal"


def test_bad_data_never_clears_a_gas_alarm(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 30).read(1, "g", None, Quality.BAD).read(2, "g", 0.0, Quality.BAD)
    assert b.state_of("g:A1") == "active_unack" and b.state_of("g:fault") == "active_unack"


def test_stel_and_twa_against_hand_computed_values(boxes: list[Box]) -> None:
    b = make(
        boxes,
        """
[[channels]]
id = "co"
kind = "gas_ppm"
unit = "ppm"
safety = false
alarms = { stale_after_s = 3600, exposure = { stel = 6.0, twa = 1.0 } }
""",
    )
    # 20 ppm for 300 s, then 0: STEL = 20 * 300 / 900 = 6.667, TWA = 20 * 300 / 28800 = 0.2083
    for t in range(0, 300, 10):
        b.read(t, "co", 20.0)
    b.read(300, "co", 0.0)
    stel = b.engine.alarms["co:stel"]
    twa = b.engine.alarms["co:twa"]
    assert stel.detail["average"] == pytest.approx(20 * 300 / 900, abs=1e-6)
    assert twa.detail["average"] == pytest.approx(20 * 300 / 28800, abs=1e-6)
    assert stel.state == "active_unack" and twa.state == "normal"
    raised = next(e for e in b.events if e.kind == "alarm_raised")
    assert raised.details["detail"]["average"] == pytest.approx(20 * 270 / 900, abs=1e-6)
    # 15 minutes later the 300 s dose has left the STEL window, still in the TWA one
    b.read(1200, "co", 0.0)
    assert stel.detail["average"] == pytest.approx(0.0) and stel.state == "normal"
    assert twa.detail["average"] == pytest.approx(20 * 300 / 28800, abs=1e-6)


def test_rate_of_change(boxes: list[Box]) -> None:
    b = make(
        boxes,
        GAS
        + "rate = [{ rise = 10, within_s = 60, level = 2 }]\n".replace(
            "rate", "[[channels.alarms.rate]]\nrise = 10\nwithin_s = 60\n#", 1
        ),
    )
    b.read(0, "g", 0).read(30, "g", 5).read(58, "g", 9.9)
    assert b.state_of("g:rate") == "normal"
    b.read(59, "g", 10.5)
    assert b.state_of("g:rate") == "active_unack"
    assert b.engine.alarms["g:rate"].detail == {"rise": 10.5}
    b.read(120, "g", 11.0)  # the 0 left the window: rise 0.5 within 60 s
    assert b.state_of("g:rate") == "normal"


SUSTAINED = """
[[channels]]
id = "m"
kind = "temperature"
unit = "°C"
safety = false
[[channels.alarms.sustained]]
name = "hot"
above = 80
for_s = 10800
level = 3
"""


def test_sustained_condition_survives_a_restart(boxes: list[Box]) -> None:
    b = make(boxes, SUSTAINED)
    b.read(0, "m", 85).read(3600, "m", 86)
    assert b.state_of("m:hot") == "normal"
    saved = b.saved()
    assert saved["sustained.m:hot"] == repr(T0)
    b.close()
    boxes.remove(b)
    b2 = make(boxes, SUSTAINED, saved=saved, t=T0 + 7200)  # restarted 2 h in
    b2.read(7200, "m", 84).at(10799)
    assert b2.state_of("m:hot") == "normal"
    b2.at(10800)
    assert b2.state_of("m:hot") == "active_unack", "3 h counted across the restart"
    b2.read(10900, "m", 70)
    assert b2.state_of("m:hot") == "normal" and "sustained.m:hot" not in b2.saved()


def test_latched_alarm_survives_a_restart(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 60).read(1, "g", 10)
    saved = b.saved()
    b.close()
    boxes.remove(b)
    b2 = make(boxes, GAS, saved=saved, t=T0 + 100)
    assert b2.state_of("g:A2") == "cleared_unack"
    assert b2.modes()["red"] == "blink_fast"
    assert b2.level("relay:valve") == 0, "a latched level-1 alarm keeps the valve closed"
    history = [s.state for s in b2.factory.pin(5).states]
    assert True not in history, f"the valve relay blipped on during start-up: {history}"


PROFILE = (
    GAS
    + """
[[profiles]]
name = "summer"
dates = ["06-01", "09-30"]
setpoints = { "g" = { A1 = 20 } }
"""
)


def test_scheduled_profile_switch(boxes: list[Box]) -> None:
    b = make(boxes, PROFILE)  # T0 is 28 May: base setpoints
    b.read(0, "g", 22)
    assert b.state_of("g:A1") == "normal" and b.engine.profile is None
    b.at(5 * 86400)  # 2 June: summer setpoints, the same 22 %LEL now alarms
    assert b.engine.profile == "summer"
    b.read(5 * 86400 + 1, "g", 22)
    assert b.state_of("g:A1") == "active_unack"
    assert b.event("profile_changed") == {"previous": None, "profile": "summer"}


def test_profile_by_time_of_day(boxes: list[Box]) -> None:
    from datetime import datetime

    from box.alarms.config import Profile
    from box.alarms.schedule import active_profile

    night = Profile(name="night", hours=("22:00", "06:00"), setpoints={})
    winter = Profile(name="winter", dates=("11-01", "02-28"), setpoints={})
    assert active_profile([night], datetime(2026, 5, 1, 23, 0)) is night
    assert active_profile([night], datetime(2026, 5, 1, 5, 59)) is night
    assert active_profile([night], datetime(2026, 5, 1, 6, 0)) is None
    assert active_profile([winter], datetime(2026, 1, 15)) is winter
    assert active_profile([winter], datetime(2026, 3, 1)) is None


VOTE = (
    "".join(
        f"""
[[channels]]
id = "d{i}"
kind = "gas_lel"
unit = "%LEL"
zone = "z"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 3 }}]
"""
        for i in range(3)
    )
    + """
[[votes]]
id = "z-2oo3"
channels = ["d0", "d1", "d2"]
k = 2
threshold = "A1"
level = 1
"""
)


def test_voting_two_out_of_three(boxes: list[Box]) -> None:
    b = make(boxes, VOTE)
    b.read(0, "d0", 30)
    assert b.state_of("vote:z-2oo3") == "normal" and b.level("relay:valve") == 1
    b.read(1, "d2", 31)
    assert b.state_of("vote:z-2oo3") == "active_unack"
    assert b.level("relay:valve") == 0, "the vote (level 1) drives the valve"
    assert b.engine.alarms["vote:z-2oo3"].detail["voting"] == ["d0", "d2"]
    b.engine.ack("vote:z-2oo3", "x")
    b.read(2, "d0", 10)
    assert b.state_of("vote:z-2oo3") == "latched"


def test_external_inputs_share_the_alarm_list_and_outputs(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.engine.external("sos:tag7", True, level=1, name="SOS tag 7", source="uwb")
    assert b.state_of("ext:sos:tag7") == "active_unack"
    assert b.modes()["buzzer"] == "continuous" and b.level("relay:valve") == 0
    b.engine.external("sos:tag7", False, level=1)
    assert b.state_of("ext:sos:tag7") == "cleared_unack", "SOS latches"


def test_first_out_and_flood_summary(boxes: list[Box]) -> None:
    toml = "".join(
        f"""
[[channels]]
id = "c{i}"
kind = "gas_lel"
unit = "%LEL"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25 }}]
"""
        for i in range(12)
    )
    b = make(boxes, toml)
    for i in range(12):
        b.read(i, f"c{i}", 30)
    raised = [e for e in b.events if e.kind == "alarm_raised"]
    assert len(raised) == 12, "every alarm is stored, none lost to the flood"
    assert [e.details["first_out"] for e in raised] == [True] + [False] * 11
    assert {e.details["first_out_id"] for e in raised} == {"c0:A1"}
    (flood,) = [e for e in b.events if e.kind == "alarm_flood"]
    assert flood.details["count"] == 10 and flood.details["first_out"] == "c0:A1"
    b.at(200)
    assert b.event("alarm_flood_end") == {"total": 12}


def test_lamp_test_then_back(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.engine.lamp_test("tech", 5)
    assert b.modes() == {
        "buzzer": "continuous",
        "red": "on",
        "yellow": "on",
        "green": "on",
        "relay:valve": "off",
        "fault_relay": "off",
    }
    assert b.level("relay:valve") == 1, "a lamp test never moves a valve"
    b.at(5)
    assert b.modes()["buzzer"] == "off" and b.modes()["red"] == "off"


def test_stuck_output_is_caught_by_read_back(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    pin = b.outputs.devices["relay:valve"].pin
    pin._change_state = lambda value: True  # the relay driver no longer follows the pin
    b.read(0, "g", 60)
    assert b.faults and b.faults[0][0] == "relay:valve"
    assert "reads 1, expected 0" in b.faults[0][1]


def test_closing_outputs_releases_fail_safe_relays(boxes: list[Box]) -> None:
    """Released lines are no longer driven: the relay driver's pull-down de-energises them.
    (MockPin does not model that external pull, so the release itself is what is checked.)"""
    b = make(boxes, GAS)
    assert b.level("relay:valve") == 1 and b.factory.pin(5).function == "output"
    b.outputs.close()
    assert b.factory.pin(5).function == "input"


def test_one_log_line_per_transition_after_the_pins(
    boxes: list[Box], caplog: pytest.LogCaptureFixture
) -> None:
    """journalctl alone tells the incident: raise, ack, clear, reset, shelve, silence, fault,
    with value and threshold in the channel's decimals, each logged after the pins moved."""
    import logging

    b = make(boxes, GAS.replace('unit = "%LEL"', 'unit = "%LEL"\ndecimals = 1') + STALE)
    buzzer_when_logged: list[str] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            buzzer_when_logged.append(b.modes()["buzzer"])

    spy = Spy()
    logging.getLogger("box.alarms.transitions").addHandler(spy)
    caplog.set_level(logging.INFO, logger="box.alarms.transitions")
    try:
        b.read(0, "g", 38.43682882174573).read(0, "s", 1.0)
        b.engine.silence("op", 60)
        b.engine.ack("g:A1", "alice", "valve closed")
        b.read(2, "g", 22.96)
        b.read(3, "g", 55.0).read(4, "g", 10.0)
        b.engine.ack("g:A2", "alice")
        b.engine.reset("g:A2", "alice")
        b.engine.shelve("g:A1", "tech", 1800, "calibration")
        b.at(61)
    finally:
        logging.getLogger("box.alarms.transitions").removeHandler(spy)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[0] == (
        "WARNING",
        "alarm raised g:A1 level 2 value 38.4 %LEL threshold 25.0 %LEL (normal -> active_unack)",
    )
    assert buzzer_when_logged[0] == "intermittent", "the buzzer sounded before the log line"
    text = "\n".join(m for _, m in lines)
    for expected in (
        "buzzer silenced for 60 s by op",
        "alarm acknowledged g:A1 level 2 value 38.4 %LEL threshold 25.0 %LEL by alice "
        "note 'valve closed' (active_unack -> active_ack)",
        "alarm cleared g:A1 level 2 value 23.0 %LEL threshold 25.0 %LEL (active_ack -> normal)",
        "alarm raised g:A2 level 1 value 55.0 %LEL threshold 50.0 %LEL",
        "alarm cleared g:A2 level 1 value 10.0 %LEL",
        "alarm reset g:A2 level 1 value 10.0 %LEL threshold 50.0 %LEL by alice (latched -> normal)",
        "alarm shelved g:A1 level 2 value 10.0 %LEL threshold 25.0 %LEL by tech "
        "reason 'calibration' for 1800 s (normal -> normal)",
        "fault raised s:fault level 3 reasons stale (normal -> active_unack)",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "38.43682882174573" not in text
