"""``safetybox people ...`` on a box's own store (no running box needed for the queries)."""

from __future__ import annotations

import json
from pathlib import Path

from box.core.records import Event, Position, Reading, now_ms
from box.keys import STORE_KEY, FileKeyProvider
from box.paths import BoxHome
from box.store.config import StoreSection
from box.store.writer import StoreWriter
from tests.alarm_harness import OUTPUTS
from tests.conftest import run_cli
from tests.people_harness import PLAN


def _fill(home: Path, t0: int) -> None:
    bh = BoxHome.under(home)
    writer = StoreWriter(
        bh.database_file, FileKeyProvider(bh.keys_dir).get(STORE_KEY), StoreSection(), owner="test"
    )
    writer.start()
    writer.submit_records(
        [Position("t1", t0 + s * 1000, 5.0 if s < 60 else 30.0, 5.0) for s in range(0, 120, 5)]
    )
    writer.submit_readings([Reading("reactor.h2s", t0 + s * 1000, 12.0) for s in range(0, 120, 10)])
    writer.submit_event(
        Event(
            "zone_entered", "person:t1", t0, 0, {"tag": "t1", "zone": "reactor", "person": "Li Wei"}
        )
    )
    writer.submit_event(
        Event(
            "zone_left",
            "person:t1",
            t0 + 60_000,
            0,
            {"tag": "t1", "zone": "reactor", "person": "Li Wei"},
        )
    )
    writer.stop()


def test_where_track_visits_and_exposure(home: Path) -> None:
    (home / "box.toml").write_text(OUTPUTS + PLAN, encoding="utf-8")
    t0 = now_ms() - 600_000
    _fill(home, t0)
    out = run_cli(home, "people", "where", "--format", "json").output  # type: ignore[attr-defined]
    assert [(p["tag"], p["x"]) for p in json.loads(out)] == [("t1", 30.0)]
    out = run_cli(home, "people", "track", "t1", "--since", "1h", "--format", "csv").output  # type: ignore[attr-defined]
    assert out.splitlines()[0].startswith("tag,ts_ms,x,y") and len(out.splitlines()) == 25
    out = run_cli(
        home, "people", "track", "t1", "--since", "1h", "--format", "geojson", "--line"
    ).output  # type: ignore[attr-defined]
    assert json.loads(out)["features"][0]["geometry"]["type"] == "LineString"
    out = run_cli(home, "people", "visits", "--zone", "reactor").output  # type: ignore[attr-defined]
    assert [v["seconds"] for v in json.loads(out)] == [60.0]
    out = run_cli(home, "people", "exposure", "--since", "1h").output  # type: ignore[attr-defined]
    (row,) = json.loads(out)
    assert row["person"] == "Li Wei" and row["exposed_s"] == 60
    assert abs(row["twa"] - 12 * 60 / 28800) < 1e-4
