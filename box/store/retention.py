"""Retention: readings by age and by a size budget (oldest first), events by age only.

Every eviction returns the details of a ``gap`` event naming the range dropped, so that nobody
downstream mistakes missing data for a quiet sensor. Eviction follows insertion order (row id),
which is also the order sync cursors walk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from box.store.config import StoreSection

CHUNK = 50_000
DAY_MS = 86_400_000
SIZE_TARGET = 0.9  # evict down to 90 % of the budget, so eviction does not run on every check


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in use by the store (pages minus free pages); what the size budget measures."""
    # int(): SQLCipher returns some pragma values as text.
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def apply(
    conn: sqlite3.Connection,
    settings: StoreSection,
    now_ms: int,
    hash_of: Callable[[int], str | None],
) -> list[dict[str, Any]]:
    gaps: list[dict[str, Any]] = []
    cutoff = now_ms - int(settings.retention_days * DAY_MS)
    gap = _evict_readings(conn, lambda ts: ts < cutoff, None, "age")
    if gap:
        gaps.append(gap)
    budget = int(settings.max_size_mb * 1024 * 1024)
    if used_bytes(conn) > budget:
        gap = _evict_readings(conn, None, int(budget * SIZE_TARGET), "size_budget")
        if gap:
            gaps.append(gap)
    minute = (now_ms - int(settings.rollup_retention_days * DAY_MS)) // 60_000
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM rollups WHERE minute < ?", (minute,))
    conn.execute("COMMIT")
    gap = _evict_positions(conn, now_ms - int(settings.position_retention_days * DAY_MS))
    if gap:
        gaps.append(gap)
    gap = _evict_events(conn, now_ms - int(settings.event_retention_days * DAY_MS), hash_of)
    if gap:
        gaps.append(gap)
    if gaps:
        conn.execute("PRAGMA incremental_vacuum")
    return gaps


def _evict_readings(
    conn: sqlite3.Connection,
    too_old: Callable[[int], bool] | None,
    target_bytes: int | None,
    reason: str,
) -> dict[str, Any] | None:
    """Delete the oldest readings while ``too_old(ts)`` holds or until under ``target_bytes``.

    The newest reading is always kept, so new ids continue after it (see the migration).
    """
    newest = conn.execute("SELECT max(id) FROM readings").fetchone()[0]
    if newest is None:
        return None
    first_id = last_id = None
    from_ts = to_ts = None
    count = 0
    while True:
        if target_bytes is not None and used_bytes(conn) <= target_bytes:
            break
        rows = conn.execute(
            "SELECT id, ts FROM readings WHERE id < ? ORDER BY id LIMIT ?",
            (newest, CHUNK // 5 if target_bytes else CHUNK),
        ).fetchall()
        if not rows:
            break
        if too_old is not None:
            n = next((i for i, (_, ts) in enumerate(rows) if not too_old(ts)), len(rows))
            rows = rows[:n]
            if not rows:
                break
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM readings WHERE id <= ?", (rows[-1][0],))
        conn.execute("COMMIT")
        first_id = rows[0][0] if first_id is None else first_id
        last_id = rows[-1][0]
        chunk_ts = [ts for _, ts in rows]
        from_ts = min([*chunk_ts, from_ts] if from_ts is not None else chunk_ts)
        to_ts = max([*chunk_ts, to_ts] if to_ts is not None else chunk_ts)
        count += len(rows)
        if too_old is not None and len(rows) < CHUNK:
            break
    if not count:
        return None
    return {
        "stream": "readings",
        "reason": reason,
        "count": count,
        "first_id": first_id,
        "last_id": last_id,
        "from_ts": from_ts,
        "to_ts": to_ts,
    }


def _evict_positions(conn: sqlite3.Connection, cutoff_ms: int) -> dict[str, Any] | None:
    """Stored positions older than their retention (the newest record row always stays, so
    record ids keep growing for the outbox's cursor)."""
    row = conn.execute(
        "SELECT count(*), min(ts), max(ts) FROM records WHERE type = 'position' AND ts < ? "
        "AND id < (SELECT max(id) FROM records)",
        (cutoff_ms,),
    ).fetchone()
    count, from_ts, to_ts = row
    if not count:
        return None
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "DELETE FROM records WHERE type = 'position' AND ts < ? "
        "AND id < (SELECT max(id) FROM records)",
        (cutoff_ms,),
    )
    conn.execute("COMMIT")
    return {"stream": "positions", "reason": "age", "count": count, "from_ts": from_ts,
            "to_ts": to_ts}  # fmt: skip


def _evict_events(
    conn: sqlite3.Connection, cutoff_ms: int, hash_of: Callable[[int], str | None]
) -> dict[str, Any] | None:
    # Never delete the newest event: it anchors the chain for the events that follow.
    row = conn.execute(
        "SELECT min(seq), max(seq), count(*), min(ts), max(ts) FROM events "
        "WHERE ts < ? AND seq < (SELECT max(seq) FROM events)",
        (cutoff_ms,),
    ).fetchone()
    first_seq, last_seq, count, from_ts, to_ts = row
    if not count:
        return None
    # Delete only the contiguous prefix, so the remaining chain has no holes.
    lowest = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    if first_seq != lowest:
        return None
    last_hash = hash_of(last_seq)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM events WHERE seq <= ?", (last_seq,))
    conn.execute("COMMIT")
    return {
        "stream": "events",
        "reason": "age",
        "count": count,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "from_ts": from_ts,
        "to_ts": to_ts,
        "last_hash": last_hash,
    }
