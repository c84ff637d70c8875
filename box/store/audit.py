"""Check the events' hash chain as stored, from the first remaining row to the last, against
the chain's sealed anchor (box/store/anchor.py), so removed first or last rows are found too."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

from box.store import anchor
from box.store.events import ChainReport, verify_chain


def audit_events(conn: sqlite3.Connection, store_key: bytes | None = None) -> ChainReport:
    """The chain link by link; with ``store_key`` also its anchor (head and tail truncation,
    and any re-anchoring the writer had to record)."""
    first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    gap_anchor = None
    if first is not None and first > 1:
        # Rows before ``first`` were removed by retention; their gap event kept the last hash.
        for (details,) in conn.execute(
            "SELECT details FROM events WHERE kind = 'gap' ORDER BY seq DESC"
        ):
            d = json.loads(details)
            if d.get("stream") == "events" and d.get("last_seq") == first - 1:
                gap_anchor = d.get("last_hash")
                break
    rows = conn.execute(
        "SELECT seq, ts, kind, level, source, details, prev_hash, hash, hash_v FROM events"
        " ORDER BY seq"
    )
    report = verify_chain(rows, gap_anchor)
    if not report.ok or store_key is None:
        return report
    problem = _anchor_problem(conn, anchor.anchor_key(store_key))
    if problem:
        return dataclasses.replace(report, ok=False, reason=problem)
    return report


def _anchor_problem(conn: sqlite3.Connection, key: bytes) -> str:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "chain_anchor" not in tables:
        return ""  # a store (or backup) from before anchors: the links are all there is
    stored, sealed = anchor.read(conn, key)
    rows = anchor.from_rows(conn)
    if stored is None:
        return "" if rows == anchor.EMPTY else "the chain anchor is missing"
    raw = conn.execute("SELECT mac FROM chain_anchor WHERE id = 1").fetchone()[0]
    if raw == "" and stored == rows:
        return ""  # migrated and not yet opened by the writer, which seals it
    if not sealed:
        return "the chain anchor's seal does not verify (altered, or another store's key)"
    if rows.first_seq != stored.first_seq or rows.first_prev != stored.first_prev:
        return (
            f"head truncated: the anchor says the chain starts at seq {stored.first_seq}, "
            f"the rows start at {rows.first_seq}"
        )
    if rows.last_seq != stored.last_seq or rows.last_hash != stored.last_hash:
        return (
            f"tail truncated: the anchor says the chain ends at seq {stored.last_seq}, "
            f"the rows end at {rows.last_seq}"
        )
    if rows.count != stored.count:
        return f"the anchor counts {stored.count} events, the store has {rows.count}"
    reset = conn.execute(
        "SELECT seq, details FROM events WHERE kind = 'audit_anchor_reset' ORDER BY seq LIMIT 1"
    ).fetchone()
    if reset is not None:
        why = json.loads(reset[1]).get("reason", "")
        return f"the chain was re-anchored at seq {reset[0]} because {why}"
    return ""
