"""Retention: readings by age and by a size budget (oldest first), events by age only.

Every eviction is explained by a ``gap`` event naming the range dropped, so that nobody
downstream mistakes missing data for a quiet sensor. The deletes and their gap event are one
transaction: a power cut or a kill leaves either both or neither (never rows gone unexplained).
Eviction follows insertion order (row id), which is also the order sync cursors walk; it goes in
chunks, each its own transaction with its own gap event, so no transaction grows unbounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from box.store.config import StoreSection

if TYPE_CHECKING:
    import sqlite3

CHUNK = 50_000
DAY_MS = 86_400_000
SIZE_TARGET = 0.9  # evict down to 90 % of the budget, so eviction does not run on every check

GapWriter = Callable[[dict[str, Any]], None]
"""Appends a gap event inside the transaction that is open on the connection."""


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
    write_gap: GapWriter,
    over_budget: bool = False,
) -> list[dict[str, Any]]:
    """Evict what the settings say; returns the gap details, each already committed with its
    deletes. ``over_budget``: evict by size as if the budget were exceeded (the disk is full)."""
    gaps: list[dict[str, Any]] = []
    cutoff = now_ms - int(settings.retention_days * DAY_MS)
    gaps += _evict_readings(conn, lambda ts: ts < cutoff, None, "age", write_gap)
    budget = int(settings.max_size_mb * 1024 * 1024)
    used = used_bytes(conn)
    if over_budget:
        budget = min(budget, used)
    if used > budget or over_budget:
        target = int(budget * SIZE_TARGET)
        reason = "disk_full" if over_budget else "size_budget"
        gaps += _evict_readings(conn, None, target, reason, write_gap)
    minute = (now_ms - int(settings.rollup_retention_days * DAY_MS)) // 60_000
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM rollups WHERE minute < ?", (minute,))
    conn.execute("COMMIT")
    position_cutoff = now_ms - int(settings.position_retention_days * DAY_MS)
    gap = _evict_positions(conn, position_cutoff)
    if gap:
        _commit_with_gap(conn, (_DELETE_POSITIONS, position_cutoff), gap, write_gap)
        gaps.append(gap)
    gap = _evict_events(conn, now_ms - int(settings.event_retention_days * DAY_MS), hash_of)
    if gap:
        delete = ("DELETE FROM events WHERE seq <= ?", gap["last_seq"])
        _commit_with_gap(conn, delete, gap, write_gap)
        gaps.append(gap)
    if gaps and not over_budget:  # on a full disk the freed pages stay for the store's reuse
        conn.execute("PRAGMA incremental_vacuum")
    return gaps


def _commit_with_gap(
    conn: sqlite3.Connection, delete: tuple[str, int], gap: dict[str, Any], write_gap: GapWriter
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(delete[0], (delete[1],))
        write_gap(gap)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _evict_readings(
    conn: sqlite3.Connection,
    too_old: Callable[[int], bool] | None,
    target_bytes: int | None,
    reason: str,
    write_gap: GapWriter,
) -> list[dict[str, Any]]:
    """Delete the oldest readings while ``too_old(ts)`` holds or until under ``target_bytes``.

    The newest reading is always kept, so new ids continue after it (see the migration).
    """
    gaps: list[dict[str, Any]] = []
    newest = conn.execute("SELECT max(id) FROM readings").fetchone()[0]
    if newest is None:
        return gaps
    while True:
        if target_bytes is not None and used_bytes(conn) <= target_bytes:
            break
        rows = conn.execute(
            "SELECT id, ts FROM readings WHERE id < ? ORDER BY id LIMIT ?",
            (newest, CHUNK // 5 if target_bytes is not None else CHUNK),
        ).fetchall()
        if not rows:
            break
        if too_old is not None:
            n = next((i for i, (_, ts) in enumerate(rows) if not too_old(ts)), len(rows))
            rows = rows[:n]
            if not rows:
                break
        stamps = [ts for _, ts in rows]
        gap = {
            "stream": "readings",
            "reason": reason,
            "count": len(rows),
            "first_id": rows[0][0],
            "last_id": rows[-1][0],
            "from_ts": min(stamps),
            "to_ts": max(stamps),
        }
        _commit_with_gap(conn, ("DELETE FROM readings WHERE id <= ?", rows[-1][0]), gap, write_gap)
        gaps.append(gap)
        if too_old is not None and len(rows) < CHUNK:
            break
    return gaps


_DELETE_POSITIONS = (
    "DELETE FROM records WHERE type = 'position' AND ts < ? AND id < (SELECT max(id) FROM records)"
)


def _evict_positions(conn: sqlite3.Connection, cutoff_ms: int) -> dict[str, Any] | None:
    """The gap details for stored positions older than their retention (the caller deletes
    them with their gap; the newest record row always stays, so record ids keep growing for the
    outbox's cursor)."""
    row = conn.execute(
        "SELECT count(*), min(ts), max(ts) FROM records WHERE type = 'position' AND ts < ? "
        "AND id < (SELECT max(id) FROM records)",
        (cutoff_ms,),
    ).fetchone()
    count, from_ts, to_ts = row
    if not count:
        return None
    return {"stream": "positions", "reason": "age", "count": count, "from_ts": from_ts,
            "to_ts": to_ts}  # fmt: skip


def _evict_events(
    conn: sqlite3.Connection, cutoff_ms: int, hash_of: Callable[[int], str | None]
) -> dict[str, Any] | None:
    """The gap details for the events to evict (the caller deletes them with their gap)."""
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
    return {
        "stream": "events",
        "reason": "age",
        "count": count,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "from_ts": from_ts,
        "to_ts": to_ts,
        "last_hash": hash_of(last_seq),
    }
