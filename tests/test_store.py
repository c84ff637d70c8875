"""The encrypted store: only opens with the key, survives restarts, detects tampering, retains."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from box.core.errors import StoreError
from box.core.records import Event, Quality, Reading, now_ms
from box.store.audit import audit_events
from box.store.config import StoreSection
from box.store.database import connect, open_store
from box.store.retention import used_bytes
from box.store.writer import StoreWriter

KEY = bytes(range(32))


def write(path: Path, readings: list[Reading], events: list[Event] = (), **settings) -> StoreWriter:
    w = StoreWriter(path, KEY, StoreSection(**settings))
    w.start()
    for i in range(0, len(readings), 100):
        assert w.submit_readings(readings[i : i + 100])
    for e in events:
        w.submit_event(e)
    assert w.flush()
    return w


def readings(n: int, start_ts: int = 1_700_000_000_000, channel: str = "c1") -> list[Reading]:
    return [Reading(channel, start_ts + i, float(i), Quality.GOOD) for i in range(n)]


def events(n: int, ts: int = 1_700_000_000_000) -> list[Event]:
    return [Event("test", "tests", ts + i, 0, {"i": i, "text": "é"}) for i in range(n)]


def test_file_is_encrypted_and_opens_only_with_the_key(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    write(db, readings(10), events(2)).stop()
    header = db.read_bytes()[:16]
    assert header != b"SQLite format 3\x00"
    plain = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        plain.execute("SELECT count(*) FROM sqlite_master").fetchall()
    plain.close()
    cli = subprocess.run(
        ["sqlite3", str(db), "SELECT count(*) FROM readings;"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cli.returncode != 0
    assert "not a database" in cli.stderr
    with pytest.raises(StoreError, match="wrong key"):
        connect(db, bytes(32), readonly=True)
    conn = connect(db, KEY, readonly=True)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 10
    conn.close()


def test_wal_and_migrations_are_recorded(tmp_path: Path) -> None:
    db = open_store(tmp_path / "b.db", KEY)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r["name"] for r in db["_sqlite_migrations"].rows]
    assert names == [
        "0001_initial",
        "0002_users",
        "0003_minute_rollups",
        "0004_records",
        "0005_event_hash_version",
    ]
    db.conn.close()
    db = open_store(tmp_path / "b.db", KEY)  # re-applying is a no-op
    assert db["_sqlite_migrations"].count == len(names)
    db.conn.close()


def test_restart_keeps_data_and_continues_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    write(db, readings(250), events(3)).stop()
    w = write(db, readings(250, start_ts=1_800_000_000_000), events(2))
    w.stop()
    conn = connect(db, KEY, readonly=True)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 500
    report = audit_events(conn)
    assert report.ok and report.checked == 5 and report.last_seq == 5
    conn.close()


@pytest.mark.parametrize(
    ("tamper", "broken_seq", "reason"),
    [
        ("UPDATE events SET details = '{\"i\":99}' WHERE seq = 3", 3, "altered"),
        ("UPDATE events SET level = 1 WHERE seq = 4", 4, "altered"),
        ("DELETE FROM events WHERE seq = 2", 3, "sequence jumps from 1 to 3"),
        ("UPDATE events SET prev_hash = hash WHERE seq = 5", 5, "prev_hash"),
    ],
)
def test_hash_chain_finds_the_first_broken_link(
    tmp_path: Path, tamper: str, broken_seq: int, reason: str
) -> None:
    db = tmp_path / "b.db"
    write(db, [], events(6)).stop()
    conn = connect(db, KEY)
    conn.execute(tamper)
    report = audit_events(conn)
    conn.close()
    assert not report.ok
    assert report.broken_seq == broken_seq
    assert reason in report.reason


def test_recomputed_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    """A forger who rewrites a row and its own hash is caught by the following row."""
    from box.store.events import event_hash

    db = tmp_path / "b.db"
    write(db, [], events(4)).stop()
    conn = connect(db, KEY)
    seq, ts, kind, level, source, prev = conn.execute(
        "SELECT seq, ts, kind, level, source, prev_hash FROM events WHERE seq = 2"
    ).fetchone()
    forged = '{"i":1,"text":"forged"}'
    new_hash = event_hash(prev, seq, ts, kind, level, source, forged)
    conn.execute("UPDATE events SET details = ?, hash = ? WHERE seq = 2", (forged, new_hash))
    report = audit_events(conn)
    conn.close()
    assert not report.ok and report.broken_seq == 3


def test_age_retention_evicts_old_readings_with_a_gap_event(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    old = readings(300, start_ts=now_ms() - 10 * 86_400_000, channel="old")
    new = readings(200, start_ts=now_ms() - 1000, channel="new")
    w = write(db, old + new, retention_days=5)
    w.run_maintenance()
    w.stop()
    conn = connect(db, KEY, readonly=True)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 200
    (details,) = conn.execute("SELECT details FROM events WHERE kind = 'gap'").fetchone()
    conn.close()
    import json

    gap = json.loads(details)
    assert gap == {
        **gap,
        "stream": "readings",
        "reason": "age",
        "count": 300,
        "first_id": 1,
        "last_id": 300,
        "from_ts": old[0].ts_ms,
        "to_ts": old[-1].ts_ms,
    }


def test_size_budget_evicts_readings_oldest_first_never_events(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    many = readings(60_000, start_ts=now_ms() - 60_000)
    w = write(db, many, events(50, ts=now_ms()), max_size_mb=1)
    w.run_maintenance()
    w.stop()
    conn = connect(db, KEY, readonly=True)
    assert used_bytes(conn) <= 1024 * 1024
    first_id, last_id, count = conn.execute(
        "SELECT min(id), max(id), count(*) FROM readings"
    ).fetchone()
    assert last_id == 60_000, "the newest readings stay"
    assert count == last_id - first_id + 1, "evicted oldest first, no holes"
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'test'").fetchone()[0] == 50
    import json

    gaps = [json.loads(d) for (d,) in conn.execute("SELECT details FROM events WHERE kind='gap'")]
    assert gaps[0]["reason"] == "size_budget" and gaps[0]["first_id"] == 1
    assert gaps[0]["last_id"] == first_id - 1 and gaps[0]["count"] == first_id - 1
    assert audit_events(conn).ok
    conn.close()


def test_retention_keeps_the_newest_reading_so_ids_never_go_back(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    w = write(db, readings(100), retention_days=1)  # all 100 are years old
    w.run_maintenance()
    w.submit_readings([Reading("c1", now_ms(), 1.0)])
    w.flush()
    w.stop()
    conn = connect(db, KEY, readonly=True)
    assert [r[0] for r in conn.execute("SELECT id FROM readings ORDER BY id")] == [100, 101]
    conn.close()


def test_event_retention_keeps_the_chain_verifiable(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    old = events(10, ts=now_ms() - 40 * 86_400_000)
    w = write(db, [], old + events(3, ts=now_ms()), event_retention_days=30)
    w.run_maintenance()
    w.stop()
    conn = connect(db, KEY)
    first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    assert first == 11
    report = audit_events(conn)
    assert report.ok, report
    # The anchor is checked: forging the first remaining row's prev_hash is caught.
    conn.execute("UPDATE events SET prev_hash = ? WHERE seq = 11", ("f" * 64,))
    assert not audit_events(conn).ok
    conn.close()


def test_full_queue_drops_readings_and_records_a_gap(tmp_path: Path) -> None:
    w = StoreWriter(tmp_path / "b.db", KEY, StoreSection(queue_max_batches=16))
    batches = [readings(10, start_ts=1_700_000_000_000 + 10 * i) for i in range(20)]
    accepted = [w.submit_readings(b) for b in batches]  # writer not started: queue fills up
    assert accepted == [True] * 16 + [False] * 4
    w.start()
    assert w.flush()
    w.stop()
    conn = connect(tmp_path / "b.db", KEY, readonly=True)
    import json

    (details,) = conn.execute("SELECT details FROM events WHERE kind = 'gap'").fetchone()
    gap = json.loads(details)
    assert gap["reason"] == "queue_full" and gap["count"] == 40
    assert gap["from_ts"] == batches[16][0].ts_ms and gap["to_ts"] == batches[19][-1].ts_ms
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 160
    conn.close()


def test_values_and_quality_round_trip(tmp_path: Path) -> None:
    rs = [
        Reading("a", 1, 1.5, Quality.GOOD),
        Reading("b", 2, None, Quality.BAD),
        Reading("a", 3, -2.25, Quality.UNCERTAIN),
        Reading("c", 4, None, Quality.STALE),
    ]
    write(tmp_path / "b.db", rs).stop()
    conn = connect(tmp_path / "b.db", KEY, readonly=True)
    rows = conn.execute(
        "SELECT c.name, ts, value, quality FROM readings r JOIN channels c ON c.id = r.channel_id "
        "ORDER BY r.id"
    ).fetchall()
    conn.close()
    assert rows == [(r.channel, r.ts_ms, r.value, int(r.quality)) for r in rs]


def test_readonly_open_of_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        connect(tmp_path / "nope.db", KEY, readonly=True)
    assert not os.path.exists(tmp_path / "nope.db")


def test_multi_row_inserts_keep_order_and_values(tmp_path: Path) -> None:
    """1,234 rows: four full 250-row statements plus a 234-row remainder, in one commit."""
    rs = [Reading(f"c{i % 7}", 1_700_000_000_000 + i, i * 0.5, Quality(i % 4)) for i in range(1234)]
    w = StoreWriter(tmp_path / "b.db", KEY, StoreSection(commit_max_rows=5000))
    assert w.submit_readings(rs)
    w.start()
    assert w.flush()
    w.stop()
    conn = connect(tmp_path / "b.db", KEY, readonly=True)
    rows = conn.execute(
        "SELECT r.id, c.name, ts, value, quality FROM readings r "
        "JOIN channels c ON c.id = r.channel_id ORDER BY r.id"
    ).fetchall()
    conn.close()
    assert rows == [(i + 1, r.channel, r.ts_ms, r.value, int(r.quality)) for i, r in enumerate(rs)]


def test_minute_rollups_and_trend_buckets(tmp_path: Path) -> None:
    from box.store.trends import svg, trend

    # 30-40 minutes ago, on a 10-minute boundary so both minutes share one day-range bucket
    t0 = (now_ms() // 600_000 - 3) * 600_000
    rs = [Reading("c", t0 + i * 10_000, float(i), Quality.GOOD) for i in range(12)]  # 2 minutes
    rs.append(Reading("c", t0 + 5_000, 999.0, Quality.BAD))  # bad values stay out of trends
    w = write(tmp_path / "b.db", rs[:5])  # the rollup is merged across commits
    w.submit_readings(rs[5:])
    w.flush()
    w.stop()
    conn = connect(tmp_path / "b.db", KEY, readonly=True)
    rows = conn.execute(
        "SELECT minute, min, max, sum, count FROM rollups ORDER BY minute"
    ).fetchall()
    assert rows == [(t0 // 60_000, 0.0, 5.0, 15.0, 6), (t0 // 60_000 + 1, 6.0, 11.0, 51.0, 6)]
    points = trend(conn, "c", "hour", now_ms())
    assert [(p[1], p[2], p[3]) for p in points] == [(0.0, 5.0, 2.5), (6.0, 11.0, 8.5)]
    assert len(trend(conn, "c", "day", now_ms())) == 1, "10-minute buckets"
    conn.close()
    chart = svg(points, {"A1": 10.0})
    assert chart.startswith("<svg") and "<polyline" in chart and ">A1</text>" in chart


def test_the_writer_knows_how_many_readings_the_store_holds(tmp_path: Path) -> None:
    """Not only this run's commits: start-up said '7 readings stored' beside 9,000 rows."""
    db = tmp_path / "b.db"
    old = readings(300, start_ts=now_ms() - 10 * 86_400_000, channel="old")
    w = write(db, old + readings(9000, start_ts=now_ms() - 1000))
    assert (w.stats.stored_readings, w.stats.committed_readings) == (9300, 9300)
    w.stop()
    w = StoreWriter(db, KEY, StoreSection(retention_days=5))
    assert (w.stats.stored_readings, w.stats.committed_readings) == (9300, 0)
    w.start()
    w.submit_readings(readings(7, start_ts=now_ms()))
    assert w.flush()
    assert (w.stats.stored_readings, w.stats.committed_readings) == (9307, 7)
    w.run_maintenance()  # the 300 old ones go
    assert w.stats.stored_readings == 9007
    w.stop()
    conn = connect(db, KEY, readonly=True)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 9007
    conn.close()
    w = StoreWriter(db, KEY, StoreSection())
    assert w.stats.stored_readings == 9007
    w.stop()
