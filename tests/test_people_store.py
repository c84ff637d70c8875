"""Positions in the store: thinning, retention by age, and the questions asked of them
(track, where, visits, the exposure report recomputed from stored data, by hand)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from box.config.loader import parse_config
from box.core.records import Event, Position, Reading
from box.people import queries
from box.store import retention
from box.store.config import StoreSection
from box.store.database import connect
from box.store.positions import PositionThinner
from box.store.writer import StoreWriter
from tests.alarm_harness import OUTPUTS
from tests.people_harness import PLAN

T0 = 1_780_000_000_000  # ms


class _Sink:
    def __init__(self, settings: StoreSection) -> None:
        self.settings = settings
        self.rows: list[Position] = []

    def submit_records(self, batch):  # noqa: ANN001, ANN201
        self.rows += batch
        return True


def test_positions_are_thinned_by_movement_and_time() -> None:
    sink = _Sink(StoreSection(position_min_move_m=0.5, position_every_s=10))
    thin = PositionThinner(sink)
    # Standing for 60 s at 10 Hz with 5 cm jitter, then walking 1.4 m/s for 10 s.
    for k in range(600):
        thin([Position("t1", T0 + k * 100, 5 + (k % 2) * 0.05, 5)])
    standing = len(sink.rows)
    assert standing == 6  # one row per 10 s
    for k in range(100):
        thin([Position("t1", T0 + 60_000 + k * 100, 5 + k * 0.14, 5)])
    assert 25 <= len(sink.rows) - standing <= 30  # one per half metre: 14 m / 0.5
    thin([Position("t1", T0 + 70_100, 5 + 99 * 0.14, 5, sos=True)])
    assert sink.rows[-1].sos, "an SOS press is always stored"


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    key = os.urandom(32)
    path = tmp_path / "box.db"
    writer = StoreWriter(path, key, StoreSection(commit_interval_ms=5))
    writer.start()
    yield writer, lambda readonly=True: connect(path, key, readonly=readonly)
    writer.stop()


def test_track_where_and_visits_from_the_store(store) -> None:  # noqa: ANN001
    writer, reader = store
    writer.submit_records([Position("t1", T0 + i * 1000, float(i), 2.0) for i in range(10)])
    writer.submit_records([Position("t2", T0 + 5000, 50.0, 50.0)])
    for kind, ts in (("zone_entered", 2000), ("zone_left", 7000), ("zone_entered", 9000)):
        writer.submit_event(
            Event(
                kind, "person:t1", T0 + ts, 0, {"tag": "t1", "zone": "reactor", "person": "Li Wei"}
            )
        )
    writer.flush()
    conn = reader()
    try:
        track = queries.track(conn, "t1", T0, T0 + 5000)
        assert [p["x"] for p in track] == [0, 1, 2, 3, 4]
        assert {p["tag"]: p["x"] for p in queries.where(conn)} == {"t1": 9.0, "t2": 50.0}
        v = queries.visits(conn, zone="reactor")
        assert [(x["entered_ms"] - T0, x["seconds"]) for x in v] == [(2000, 5.0), (9000, None)]
    finally:
        conn.close()
    geo = json.loads(queries.render(track, "geojson", line=True))
    assert geo["features"][0]["geometry"]["coordinates"][:2] == [[0, 2], [1, 2]]
    csv = queries.render(track, "csv").splitlines()
    assert csv[0].startswith("tag,ts_ms,x,y") and len(csv) == 6


def test_old_positions_are_evicted_by_age_and_the_gap_is_said(store) -> None:  # noqa: ANN001
    writer, reader = store
    day = 86_400_000
    writer.submit_records(
        [
            Position("t1", T0 - 100 * day, 1.0, 1.0),
            Position("t1", T0 - 10 * day, 2.0, 2.0),
            Position("t1", T0, 3.0, 3.0),
        ]
    )
    writer.flush()
    conn = reader(False)  # as the writer's maintenance does, outside its transactions
    try:
        gaps = retention.apply(conn, StoreSection(position_retention_days=30), T0, lambda s: None)
    finally:
        conn.close()
    assert [g for g in gaps if g["stream"] == "positions"][0]["count"] == 1
    conn = reader()
    try:
        assert [p["x"] for p in queries.track(conn, "t1")] == [2.0, 3.0]
    finally:
        conn.close()


def test_the_exposure_report_matches_a_hand_computation(store) -> None:  # noqa: ANN001
    writer, reader = store
    config = parse_config(OUTPUTS + PLAN)
    plan = config.positioning[0]  # type: ignore[attr-defined]
    # H2S in the reactor hall: 20 ppm from 0 s, 40 ppm from 300 s, every 10 s.
    writer.submit_readings(
        [
            Reading("reactor.h2s", T0 + s * 1000, 20.0 if s < 300 else 40.0)
            for s in range(0, 1200, 10)
        ]
    )
    # Li Wei: outside until 100 s, inside the hall 100..500 s, outside after (a row every 5 s).
    writer.submit_records(
        [
            Position("t1", T0 + s * 1000, 5.0 if 100 <= s < 500 else 30.0, 5.0)
            for s in range(0, 1200, 5)
        ]
    )
    writer.flush()
    conn = reader()
    try:
        (row,) = queries.exposure(conn, plan, T0, T0 + 1_200_000, "t1")
    finally:
        conn.close()
    dose = 20 * 200 + 40 * 200  # ppm x s: 100..300 at 20, 300..500 at 40
    assert row["exposed_s"] == 400
    assert row["twa"] == pytest.approx(dose / 28800, abs=1e-4)
    assert row["average"] == pytest.approx(dose / 1200, abs=1e-4)
    # The worst 15 min: 200 s at 20 and 200 s at 40 fit in it: (4000 + 8000) / 900
    assert row["stel_max"] == pytest.approx(12000 / 900, abs=1e-4)
