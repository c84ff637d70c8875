"""What must hold in a store after any crash: the checks the fault tests share."""

from __future__ import annotations

import json
from pathlib import Path

from box.store.audit import audit_events
from box.store.database import connect


def explained_holes(conn) -> list[tuple[int, int]]:
    """Ranges of reading ids that are missing and that no gap event explains (should be [])."""
    covered: list[tuple[int, int]] = []
    for (details,) in conn.execute("SELECT details FROM events WHERE kind = 'gap'"):
        d = json.loads(details)
        if d.get("stream") == "readings" and "first_id" in d:
            covered.append((d["first_id"], d["last_id"]))
    ids = [i for (i,) in conn.execute("SELECT id FROM readings ORDER BY id")]
    holes: list[tuple[int, int]] = []
    expected = 1
    for i in ids:
        if i > expected:
            holes.append((expected, i - 1))
        expected = i + 1

    def is_covered(lo: int, hi: int) -> bool:
        n = lo
        for a, b in sorted(covered):
            if a <= n <= b:
                n = b + 1
            if n > hi:
                return True
        return n > hi

    return [(lo, hi) for lo, hi in holes if not is_covered(lo, hi)]


def check_store(path: Path, key: bytes) -> dict[str, int]:
    """Integrity, hash chain with its anchor, and no unexplained hole; returns some counts."""
    conn = connect(path, key, readonly=True)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        report = audit_events(conn, key)
        assert report.ok, report
        unexplained = explained_holes(conn)
        assert not unexplained, f"reading ids missing with no gap event: {unexplained[:5]}"
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        return {"readings": readings, "events": report.checked}
    finally:
        conn.close()
