"""Wall-clock steps (an NTP correction, an RTC that was wrong at boot, an operator's `date -s`)
must neither suppress nor prolong an alarm: a step backwards restarts a running interval
instead of extending it by the size of the step, and a step forwards may only shorten one
(the safe direction). Sequence numbers never repeat and stored trends stay in id order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.config.loader import parse_config
from box.core.levels import Level
from box.core.records import Event, Quality, Reading, now_ms
from box.keys import STORE_KEY, FileKeyProvider
from box.paths import BoxHome
from box.store.database import connect
from box.store.trends import trend
from box.store.writer import StoreWriter
from tests.alarm_harness import T0, Box
from tests.conftest import run_cli

HOUR = 3600.0

GAS = """
[[channels]]
id = "g"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms]
stale_after_s = 60
escalate_after_s = 3600
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 25, level = 2 }, { name = "A2", at = 50, level = 1 }]
deadband = 2.0
on_delay_s = 10
"""

SUSTAINED = """
[[channels]]
id = "m"
kind = "temperature"
unit = "°C"
safety = false
[channels.alarms]
stale_after_s = 86400
[[channels.alarms.sustained]]
name = "hot"
above = 80
for_s = 600
level = 3
"""


@pytest.fixture
def boxes() -> Iterator[list[Box]]:
    made: list[Box] = []
    yield made
    for b in made:
        b.close()


def make(boxes: list[Box], toml: str) -> Box:
    b = Box(toml)
    boxes.append(b)
    return b


def test_on_delay_survives_a_backward_step(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 30.0)  # above A1: the 10 s on-delay starts
    b.read(5, "g", 30.0)
    # The clock is stepped back one hour; the gas stays high. Without the fix the delay
    # would count from a start an hour in the future: no A1 for an hour.
    b.read(-HOUR + 6, "g", 30.0)
    b.read(-HOUR + 17, "g", 30.0)
    assert b.state_of("g:A1") == "active_unack"
    assert b.modes()["buzzer"] != "off"


def test_on_delay_after_a_forward_step_raises_at_once(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 30.0)
    b.read(HOUR, "g", 30.0)  # a forward step only shortens a delay (never a missed alarm)
    assert b.state_of("g:A1") == "active_unack"


def test_shelve_never_outlasts_its_duration_after_a_backward_step(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 60.0).at(20)
    assert b.state_of("g:A2") == "active_unack"
    b.engine.shelve("g:A2", "tech", 600, "sensor swap")
    b.read(100, "g", 60.0)
    b.read(-HOUR + 100, "g", 60.0)  # stepped back an hour, 100 s into a 600 s shelve
    b.read(-HOUR + 700, "g", 60.0)  # 600 s of real time later
    assert b.engine.alarms["g:A2"].shelved is None, "the shelve expired after its 600 s"
    kinds = b.kinds("alarm_unshelved")
    assert kinds == ["alarm_unshelved:g:A2"]


def test_silence_never_outlasts_its_duration_after_a_backward_step(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 60.0).at(20)
    until = b.engine.silence("op", 120)
    assert until == T0 + 20 + 120
    assert b.modes()["buzzer"] == "off"
    b.read(60, "g", 60.0).read(-HOUR + 60, "g", 60.0)  # stepped back an hour during it
    b.read(-HOUR + 181, "g", 60.0)  # 121 s of real time after the silence began
    assert b.engine.silenced_until is None
    assert b.modes()["buzzer"] != "off", "the buzzer sounds again after the silence"


def test_stale_channel_faults_after_a_backward_step(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 1.0)
    b.at(-HOUR)  # the sensor goes silent and the clock steps back an hour
    b.at(-HOUR + 61)
    assert b.state_of("g:fault") == "active_unack", "a silent sensor faults within its limit"
    b.read(-HOUR + 62, "g", 1.0)
    assert b.state_of("g:fault") == "normal"


def test_sustained_duration_restarts_rather_than_stretches(boxes: list[Box]) -> None:
    b = make(boxes, SUSTAINED)
    b.read(0, "m", 90.0)
    b.read(-HOUR + 10, "m", 90.0)  # stepped back an hour
    b.read(-HOUR + 611, "m", 90.0)  # 10 min of the condition since the step
    assert b.state_of("m:hot") == "active_unack"


def test_no_negative_durations_in_events_or_views(boxes: list[Box]) -> None:
    b = make(boxes, GAS)
    b.read(0, "g", 60.0).at(20)
    b.engine.ack("g:A2", "op")
    b.read(-HOUR, "g", 1.0).at(-HOUR + 20)  # clears after the backward step
    b.read(-HOUR + 30, "g", 1.0, Quality.GOOD)
    for e in b.events:
        for key, value in e.details.items():
            if key.endswith("_s") and isinstance(value, int | float):
                assert value >= 0, (e.kind, key, value)


# -- the store and the uplink across clock steps --------------------------------------------

CHANNEL = """
[[channels]]
id = "a"
kind = "gas_lel"
unit = "%LEL"
safety = false
"""


def _store(tmp_path: Path, sync: str = "") -> tuple[BoxHome, bytes, object]:
    home = tmp_path / "box"
    run_cli(home, "init")
    bh = BoxHome.under(home)
    key = FileKeyProvider(bh.keys_dir).get(STORE_KEY)
    config = parse_config("config_version = 1\n" + sync + CHANNEL)
    return bh, key, config


def test_sequence_ids_and_trends_stay_ordered_across_clock_steps(tmp_path: Path) -> None:
    bh, key, config = _store(tmp_path)
    w = StoreWriter(bh.database_file, key, config.store)
    w.start()
    t = now_ms()
    # Readings and events stamped by a clock that jumps back an hour, forward two, back one.
    stamps = [t + i * 1000 for i in range(60)]
    stamps += [t - 3_600_000 + i * 1000 for i in range(60)]
    stamps += [t + 3_600_000 + i * 1000 for i in range(60)]
    stamps += [t + 60_000 + i * 1000 for i in range(60)]
    try:
        for i, ts in enumerate(stamps):
            w.submit_readings([Reading("a", ts, float(i), Quality.GOOD)])
            if i % 20 == 0:
                w.submit_event(Event("note", "test", ts, Level.INFO, {"i": i}))
        assert w.flush()
    finally:
        w.stop()
    conn = connect(bh.database_file, key, readonly=True)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM readings ORDER BY rowid")]
        seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY rowid")]
        points = trend(conn, "a", "day", t + 3_700_000)
    finally:
        conn.close()
    assert ids == sorted(set(ids)) and len(ids) == len(stamps), "ids unique and increasing"
    assert seqs == sorted(set(seqs)), "event sequence numbers never repeat"
    buckets = [p[0] for p in points]
    assert buckets == sorted(set(buckets)) and len(buckets) >= 3, "trend points in time order"


def test_uplink_batches_are_not_held_back_by_a_backward_step(tmp_path: Path) -> None:
    """Rows stamped before the clock went back an hour look an hour 'younger' than now: the
    outbox must not wait for them to reach batch_max_age_s (an hour without uplink)."""
    from box.sync.outbox import Cursors, Outbox

    bh, key, config = _store(tmp_path, "[sync]\nbatch_max_rows = 1000\nbatch_max_age_s = 5\n")
    w = StoreWriter(bh.database_file, key, config.store)
    w.start()
    stepped_from = now_ms() + 3_600_000
    w.submit_readings([Reading("a", stepped_from + i, float(i)) for i in range(10)])
    assert w.flush()
    w.stop()
    conn = connect(bh.database_file, key, readonly=True)
    try:
        outbox = Outbox(conn, config, "sb-x", Cursors())
        batch = outbox.next_batch(time.time())
        assert batch is not None and (batch.first, batch.last) == (1, 10)
        outbox.acknowledged(batch)
        assert outbox.next_batch(time.time()) is None
    finally:
        conn.close()
