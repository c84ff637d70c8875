"""The store under faults: a kill at every statement of retention, the chain anchor, a full or
read-only disk."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from box.core.records import Event, Position, Quality, Reading, now_ms
from box.store.config import StoreSection
from box.store.database import connect
from box.store.writer import StoreWriter
from tests.store_invariants import check_store, explained_holes

KEY = bytes(range(32))
DAY = 86_400_000


class Killed(BaseException):
    """The process died here (a BaseException, so no ``except Exception`` absorbs it)."""


class KillAt:
    """A connection that dies at its ``n``-th statement, as SIGKILL or a power cut would."""

    def __init__(self, conn: sqlite3.Connection, n: int) -> None:
        self._conn, self._left = conn, n

    def _tick(self) -> None:
        self._left -= 1
        if self._left < 0:
            raise Killed

    def execute(self, *args: Any) -> Any:
        self._tick()
        return self._conn.execute(*args)

    def executemany(self, *args: Any) -> Any:
        self._tick()
        return self._conn.executemany(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _old_store(path: Path) -> None:
    """Readings and events old enough for retention to evict both."""
    w = StoreWriter(path, KEY, StoreSection())
    w.start()
    start = now_ms() - 40 * DAY
    for b in range(30):
        ts = [start + (b * 100 + i) * 1000 for i in range(100)]
        w.submit_readings([Reading("c1", t, 1.0, Quality.GOOD) for t in ts])
    for i in range(20):
        w.submit_event(Event("test", "tests", start + i, 0, {"i": i}))
    w.submit_records([Position("t1", start + i, 1.0, 2.0) for i in range(10)])
    w.submit_readings([Reading("c1", now_ms(), 1.0, Quality.GOOD)])
    w.submit_event(Event("test", "tests", now_ms(), 0, {"i": "new"}))
    assert w.flush()
    w.stop()


def test_a_kill_at_any_statement_of_retention_leaves_no_unexplained_hole(tmp_path: Path) -> None:
    """Deletes and their gap event are one transaction (SIGKILL between them used to leave
    rows gone with no gap event)."""
    template = tmp_path / "template.db"
    _old_store(template)
    settings = StoreSection(retention_days=5, event_retention_days=5, position_retention_days=5)
    outcomes = set()
    for n in range(40):
        db = tmp_path / f"kill{n}.db"
        shutil.copy(template, db)
        w = StoreWriter(db, KEY, settings)
        real = w._conn
        w._conn = KillAt(real, n)  # type: ignore[assignment]
        try:
            w.run_maintenance()
            outcomes.add("finished")
        except Killed:
            outcomes.add("killed")
        real.close()  # what a dead process leaves: the uncommitted transaction is gone
        w._lock.release()
        counts = check_store(db, KEY)
        conn = connect(db, KEY, readonly=True)
        assert not explained_holes(conn)
        conn.close()
        assert counts["readings"] in (1, 3001)
        conn = connect(db, KEY, readonly=True)
        positions = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        said = conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'gap' AND details LIKE '%positions%'"
        ).fetchone()[0]
        conn.close()
        assert positions == 10 or (positions == 1 and said == 1), (positions, said)
    assert outcomes == {"killed", "finished"}, "the kill points must span the whole run"


def _events_store(path: Path, n: int = 10) -> None:
    w = StoreWriter(path, KEY, StoreSection())
    w.start()
    for i in range(n):
        w.submit_event(Event("test", "tests", now_ms(), 0, {"i": i}))
    assert w.flush()
    w.stop()


def _verify(path: Path) -> Any:
    from box.store.audit import audit_events

    conn = connect(path, KEY, readonly=True)
    try:
        return audit_events(conn, KEY)
    finally:
        conn.close()


@pytest.mark.parametrize("where", ["head", "tail"])
def test_audit_detects_truncation_at_either_end(tmp_path: Path, where: str) -> None:
    db = tmp_path / "b.db"
    _events_store(db)
    assert _verify(db).ok
    conn = connect(db, KEY)
    if where == "head":
        conn.execute("DELETE FROM events WHERE seq <= 3")
    else:
        conn.execute("DELETE FROM events WHERE seq >= 8")
    conn.close()
    report = _verify(db)
    assert not report.ok
    assert "anchor" in report.reason


def test_audit_detects_a_deleted_or_forged_anchor(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    _events_store(db)
    conn = connect(db, KEY)
    conn.execute("UPDATE chain_anchor SET last_seq = 5")
    conn.close()
    assert "seal" in _verify(db).reason
    conn = connect(db, KEY)
    conn.execute("DELETE FROM chain_anchor")
    conn.close()
    assert "missing" in _verify(db).reason


def test_a_truncation_while_stopped_is_recorded_at_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    _events_store(db)
    conn = connect(db, KEY)
    conn.execute("DELETE FROM events WHERE seq >= 8")
    conn.close()
    _events_store(db, 1)  # the next run: re-anchors, and says so in the chain
    report = _verify(db)
    assert not report.ok and "re-anchored" in report.reason
    conn = connect(db, KEY, readonly=True)
    (details,) = conn.execute(
        "SELECT details FROM events WHERE kind = 'audit_anchor_reset'"
    ).fetchone()
    conn.close()
    assert "do not match" in json.loads(details)["reason"]


def test_event_retention_moves_the_anchor_with_its_gap(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    w = StoreWriter(db, KEY, StoreSection(event_retention_days=1))
    w.start()
    for i in range(5):
        w.submit_event(Event("test", "tests", now_ms() - 3 * DAY, 0, {"i": i}))
    w.submit_event(Event("test", "tests", now_ms(), 0, {"i": "new"}))
    assert w.flush()
    w.run_maintenance()
    w.stop()
    report = _verify(db)
    assert report.ok and report.first_seq == 6, report


def test_event_batches_carry_the_chain_head_upstream(tmp_path: Path) -> None:
    from box.config.loader import parse_config
    from box.sync.outbox import Cursors, Outbox

    db = tmp_path / "b.db"
    _events_store(db, 4)
    conn = connect(db, KEY, readonly=True)
    (last_hash,) = conn.execute("SELECT hash FROM events WHERE seq = 4").fetchone()
    batch = Outbox(conn, parse_config("config_version = 1\n"), "sb-x", Cursors()).next_batch(0)
    conn.close()
    assert batch is not None and batch.payload["chain_head"] == {"seq": 4, "hash": last_hash}
