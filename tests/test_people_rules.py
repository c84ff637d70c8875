"""The positioning rules with an injected clock: fences, SOS, man-down, mustering, exposure."""

from __future__ import annotations

import json

import pytest

from box.alarms.alarm import AlarmCommandError
from box.config.loader import ConfigInvalid, parse_config
from box.core.errors import CommandRefused
from box.core.records import Position
from tests.alarm_harness import OUTPUTS
from tests.people_harness import PLAN, PeopleBox, close_boxes  # noqa: F401 - autouse fixture

BEACON = 13


def test_entering_a_restricted_zone_without_authorisation_raises_and_drives_its_beacon() -> None:
    b = PeopleBox().pos(0, "t2", 5, 5)
    assert b.state_of("person:t2:unauthorised:reactor") == "normal"  # dwell not over yet
    b.pos(2.5, "t2", 5, 5.1)
    assert b.state_of("person:t2:unauthorised:reactor") == "active_unack"
    raised = next(e for e in b.events if e.kind == "alarm_raised")
    detail = raised.details["detail"]
    assert detail["person"] == "Zhang San" and detail["zone"] == "reactor"
    assert detail["cameras"] == ["cam1"] and detail["x"] == 5
    assert b.factory.pin(BEACON).state is True
    b.pos(4, "t2", 12, 5).at(6.5)
    assert b.state_of("person:t2:unauthorised:reactor") == "normal"
    assert b.factory.pin(BEACON).state is False


def test_an_authorised_worker_enters_without_alarm() -> None:
    b = PeopleBox().walk(0, 10, "t1", (-5, 5), (5, 5))
    assert b.raised() == []
    assert [e["zone"] for e in b.people_events("zone_entered")] == ["reactor"]


def test_a_worker_loitering_on_the_fence_does_not_flap() -> None:
    b = PeopleBox().pos(0, "t2", 9.8, 5).pos(3, "t2", 9.8, 5)
    # Then steps back and forth across x = 10 within the margin (0.5 m), every 0.5 s.
    for k in range(6, 120):
        b.pos(k * 0.5, "t2", 9.8 if k % 2 else 10.3, 5)
    assert len(b.people_events("zone_entered")) == 1
    assert b.people_events("zone_left") == []
    assert [a for a in b.raised() if "unauthorised" in a] == ["person:t2:unauthorised:reactor"]


def test_short_excursions_below_the_dwell_do_not_count() -> None:
    b = PeopleBox()
    for k in range(40):  # 1 s inside, 1 s outside: never 2 s either way
        b.pos(k, "t2", 9.5 if k % 2 else 11, 5)
    assert b.people_events("zone_entered") == []


def test_approaching_a_danger_zone_warns_and_clears_with_hysteresis() -> None:
    b = PeopleBox().pos(0, "t2", 14, 2).pos(3, "t2", 17.5, 2).pos(6, "t2", 17.5, 2)
    assert b.state_of("person:t2:approach:pit") == "active_unack"
    assert b.engine.alarms["person:t2:approach:pit"].detail["distance_m"] == 2.5
    b.pos(8, "t2", 16.7, 2).pos(11, "t2", 16.7, 2)  # 3.3 m away: inside the margin still
    assert b.state_of("person:t2:approach:pit") == "active_unack"
    b.pos(12, "t2", 16, 2).pos(15, "t2", 16, 2)
    assert b.state_of("person:t2:approach:pit") == "normal"


def test_overstay_in_a_confined_space_and_the_missing_attendant() -> None:
    b = PeopleBox().pos(0, "t3", 32, 6).pos(3, "t3", 32, 6)  # attendant at the manhole
    b.pos(3, "t1", 32, 2).pos(6, "t1", 32, 2)
    assert b.state_of("zone:tank:no_attendant") == "normal"
    b.pos(10, "t3", 40, 6).pos(13, "t3", 40, 6)  # the attendant walks away
    assert b.state_of("zone:tank:no_attendant") == "active_unack"
    b.at(605)
    assert b.state_of("person:t1:overstay:tank") == "normal"
    b.at(607)
    assert b.state_of("person:t1:overstay:tank") == "active_unack"


def test_headcount_limit_per_zone() -> None:
    extra = '[[positioning.people]]\ntag = "t4"\nname = "Zhao Liu"\nzones = ["reactor"]\n'
    extra += '[[positioning.people]]\ntag = "t5"\nname = "Sun Qi"\nzones = ["reactor"]\n'
    b = PeopleBox(extra)
    for tag in ("t1", "t4"):
        b.pos(0, tag, 5, 5).pos(3, tag, 5, 5)
    assert b.state_of("zone:reactor:headcount") == "normal"
    b.pos(3, "t5", 6, 6).pos(6, "t5", 6, 6)
    assert b.state_of("zone:reactor:headcount") == "active_unack"
    assert b.engine.alarms["zone:reactor:headcount"].detail["count"] == 3


def test_a_key_post_left_unattended_too_long() -> None:
    b = PeopleBox().pos(0, "t2", 55, 5).pos(3, "t2", 55, 5)
    b.pos(100, "t2", 70, 5).pos(103, "t2", 70, 5)
    b.at(103 + 899)
    assert b.state_of("zone:control:unattended") == "normal"
    b.at(103 + 901)
    assert b.state_of("zone:control:unattended") == "active_unack"
    b.pos(1100, "t2", 55, 5).pos(1103, "t2", 55, 5)
    assert b.state_of("zone:control:unattended") == "normal"


def test_sos_latches_at_level_1_cannot_be_shelved_and_survives_a_restart() -> None:
    b = PeopleBox().pos(0, "t1", 5, 5).pos(3, "t1", 5, 5)
    b.pos(4, "t1", 5, 5, sos=True)
    alarm = b.engine.alarms["person:t1:sos"]
    assert alarm.spec.level == 1 and alarm.state == "active_unack"
    assert alarm.detail["person"] == "Li Wei" and alarm.detail["cameras"] == ["cam1"]
    assert alarm.detail["zones"] == ["reactor"]
    with pytest.raises(AlarmCommandError, match="cannot be shelved"):
        b.engine.shelve("person:t1:sos", "op", 60, "nuisance")
    b.pos(5, "t1", 5, 5)  # button released: still latched
    assert b.state_of("person:t1:sos") == "cleared_unack"
    again = PeopleBox(saved=b.state)  # a restart with the saved state
    assert again.state_of("person:t1:sos") == "cleared_unack"
    again.engine.ack("person:t1:sos", "op")
    again.engine.reset("person:t1:sos", "op")
    assert again.state_of("person:t1:sos") == "normal"


def test_man_down_pre_alarm_then_latched_alarm_unless_he_moves() -> None:
    b = PeopleBox()
    for t in range(0, 29):
        b.pos(t, "t2", 40 + (t % 2) * 0.3, 20)  # jitter within the 1 m radius
    assert b.state_of("person:t2:man_down_pre") == "normal"
    b.pos(31, "t2", 40, 20)
    assert b.state_of("person:t2:man_down_pre") == "active_unack"
    assert b.state_of("person:t2:man_down") == "normal"
    b.pos(40, "t2", 43, 20)  # moved: the timers start again
    assert b.state_of("person:t2:man_down_pre") == "normal"
    b.at(40 + 61)
    assert b.state_of("person:t2:man_down") == "active_unack"
    b.pos(102, "t2", 50, 20)  # moving again: the alarm stays latched until reset
    assert b.state_of("person:t2:man_down") == "cleared_unack"


def test_lost_tag_is_a_fault_and_low_battery_a_notice() -> None:
    b = PeopleBox().pos(0, "t2", 40, 40, battery=50.0).pos(1, "t2", 40, 40, battery=19.0)
    battery = b.engine.alarms["person:t2:battery"]
    assert battery.spec.level == 4 and battery.state == "active_unack"
    b.pos(2, "t2", 40, 40, battery=22.0)  # within the hysteresis band: still low
    assert battery.effective
    b.at(33)
    lost = b.engine.alarms["person:t2:lost"]
    assert lost.spec.kind == "fault" and lost.state == "active_unack"
    b.pos(40, "t2", 40, 40)
    assert not lost.effective


def test_unknown_tags_are_strangers_and_bounded() -> None:
    b = PeopleBox("[[positioning]]\nid = 'other'\nmax_unknown_tags = 0\n")
    b.pos(0, "x9", 5, 5).pos(3, "x9", 5, 5)
    assert "person:x9:unauthorised:reactor" in b.raised()


def test_muster_roll_and_time_to_muster_report() -> None:
    b = PeopleBox()
    b.pos(0, "t1", 5, 5).pos(0, "t2", 40, 40).pos(0, "t3", -15, -15)
    b.pos(3, "t1", 5, 5).pos(3, "t2", 40, 40).pos(3, "t3", -15, -15)
    roll = b.cmd("muster_start", who="op", reason="drill")
    assert [a["person"] for a in roll["accounted"]] == ["Wang Fang"]
    assert roll["accounted"][0]["time_to_muster_s"] == 0
    assert [r["person"] for r in roll["inside"]] == ["Li Wei"]
    assert roll["inside"][0]["zones"] == ["reactor"]
    assert [r["person"] for r in roll["missing"]] == ["Zhang San"]
    b.walk(10, 40, "t1", (5, 5), (-15, -15), step=2)
    roll = b.cmd("muster_roll")
    li = next(a for a in roll["accounted"] if a["person"] == "Li Wei")
    assert 30 <= li["time_to_muster_s"] <= 34  # crossing at ~ 36 s minus 3 s start + dwell
    assert not roll["complete"]
    b.pos(50, "t2", -12, -12).pos(53, "t2", -12, -12)
    report = b.cmd("muster_end", who="op")
    assert report["complete"] and report["time_to_muster_s"] == 50
    assert report["summary"]["unaccounted"] == 0
    assert [e.kind for e in b.events if e.kind.startswith("muster")][-2:] == [
        "muster_complete",
        "muster_report",
    ]
    with pytest.raises(CommandRefused, match="no muster"):
        b.cmd("muster_end")


def test_a_level_1_alarm_starts_a_muster_when_configured() -> None:
    b = PeopleBox()
    b.engine.site_rules[0].plan.muster.start_on_level1 = True  # type: ignore[attr-defined]
    b.pos(0, "t1", 5, 5).pos(1, "t1", 5, 5, sos=True)
    assert b.cmd("muster_roll")["active"]


def test_personal_exposure_against_hand_computed_values() -> None:
    b = PeopleBox().gas(0, "reactor.h2s", 20.0)
    b.pos(0, "t1", -5, 5).pos(1, "t1", -5, 5)
    for t in range(100, 400):  # enters at 100 + 2 s dwell
        b.pos(t, "t1", 5, 5)
    for t in range(400, 1200):  # leaves at 402
        b.pos(t, "t1", 20, 20)
    row = next(r for r in b.cmd("exposure") if r["tag"] == "t1")
    # 20 ppm for 300 s (102..402): TWA over 8 h = 20 * 300 / 28800
    assert row["twa"] == pytest.approx(20 * 300 / 28800, rel=0.02)
    # STEL peaks at 20 * 300 / 900 = 6.67 (within the 15-min window)
    assert row["stel_peak"] == pytest.approx(20 * 300 / 900, rel=0.03)
    assert not [a for a in b.raised() if ":stel:" in a or ":twa:" in a]


def test_personal_stel_exceeded_raises_an_alarm_naming_him() -> None:
    b = PeopleBox().gas(0, "reactor.h2s", 40.0)
    b.pos(0, "t1", 5, 5).pos(3, "t1", 5, 5)
    for t in range(4, 300):
        b.pos(t, "t1", 5, 5)
    alarm = b.engine.alarms["person:t1:stel:h2s"]
    assert alarm.state == "active_unack" and "Li Wei" in alarm.spec.name
    # 40 ppm from 4 s (first sample) on: 10 ppm STEL is crossed after 225 s of exposure
    raised_at = alarm.raised_at
    assert raised_at is not None and 225 <= raised_at - b.clock.t + 296 + 3 <= 232


def test_zone_outputs_must_follow_their_zone() -> None:
    bad = PLAN.replace('zones = ["reactor"]\nmax_level = 2', "max_level = 2")
    with pytest.raises(ConfigInvalid, match="must list zone 'reactor'"):
        parse_config(OUTPUTS + bad)
    with pytest.raises(ConfigInvalid, match="authorised for unknown zones"):
        parse_config(OUTPUTS + PLAN.replace('zones = ["reactor", "tank"]', 'zones = ["nope"]'))


def test_alarm_state_is_saved_under_stable_ids() -> None:
    b = PeopleBox().pos(0, "t2", 5, 5).pos(3, "t2", 5, 5)
    saved = json.loads(b.state["alarm.person:t2:unauthorised:reactor"])
    assert saved["state"] == "active_unack"


def test_the_live_feed_coalesces_positions_per_tick() -> None:
    from box.people.live import FEED

    got: list[dict] = []
    unsubscribe = FEED.subscribe(got.append)
    try:
        b = PeopleBox()
        b.clock.t += 0.01
        for k in range(5):  # five updates before the tick: one message, the newest position
            b.engine.process_records([Position("t1", 0, 1.0 + k, 2.0)])
        b.engine.tick()
        assert len(got) == 1 and got[0]["tags"]["t1"]["x"] == 5.0
        assert got[0]["tags"]["t1"]["name"] == "Li Wei"
    finally:
        unsubscribe()
    assert not FEED.active


def test_a_reload_keeps_who_is_where_a_muster_and_the_timers() -> None:
    b = PeopleBox().pos(0, "t1", 32, 2).pos(3, "t1", 32, 2)  # in the tank (max stay 600 s)
    b.pos(3, "t2", 5, 5).pos(6, "t2", 5, 5)  # unauthorised in the reactor hall
    b.pos(6, "t3", -15, -15).pos(9, "t3", -15, -15)
    b.cmd("muster_start", who="op")
    entered = len(b.people_events("zone_entered"))
    b.engine.reconfigure(b.config)
    b.pos(10, "t2", 5, 5)
    assert len(b.people_events("zone_entered")) == entered, "no one re-enters by a reload"
    assert b.state_of("person:t2:unauthorised:reactor") == "active_unack"
    snap = b.cmd("snapshot")
    assert next(z for z in snap["zones"] if z["id"] == "reactor")["count"] == 1
    assert [a["person"] for a in snap["muster"]["accounted"]] == ["Wang Fang"]
    b.at(3 + 599)
    assert b.state_of("person:t1:overstay:tank") == "normal"
    b.at(3 + 601)
    assert b.state_of("person:t1:overstay:tank") == "active_unack", "entry time kept"


def test_late_and_non_finite_positions_never_move_a_worker() -> None:
    b = PeopleBox().pos(0, "t2", 40, 40).pos(3, "t2", 40, 40)
    b.clock.t += 1
    b.engine.process_records([Position("t2", 1_000, 5.0, 5.0)])  # a stale fix from a backlog
    b.pos(5, "t2", float("nan"), 5.0).pos(8, "t2", float("inf"), 5.0)
    snap = b.cmd("snapshot")
    t2 = next(p for p in snap["people"] if p["tag"] == "t2")
    assert (t2["x"], t2["y"], t2["zones"]) == (40, 40, [])
    assert snap["out_of_order"] == 1 and snap["bad_positions"] == 2
    assert b.state_of("person:t2:lost") == "normal", "the tag is alive"
