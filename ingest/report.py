"""What landed, per box: the operator's (and the tests') view of completeness."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from ingest.tracker import SeqState


def summary(conn: psycopg.Connection) -> dict[str, Any]:
    streams = {}
    for box, stream, covered, ahead, batches, rows, dups in conn.execute(
        "SELECT box_id, stream, covered, ahead, batches, rows, duplicates FROM stream_state"
        " ORDER BY box_id, stream"
    ).fetchall():
        st = SeqState(covered, [tuple(x) for x in ahead])  # type: ignore[misc]
        streams[f"{box}/{stream}"] = {
            "covered": covered,
            "holes": st.holes(),
            "batches": batches,
            "rows": rows,
            "duplicates": dups,
        }
    gaps = conn.execute(
        "SELECT box_id, stream, from_seq, to_seq, count, reason FROM gaps ORDER BY 1, 2, 3"
    ).fetchall()
    rejections = conn.execute(
        "SELECT box_id, reason, count(*) FROM rejections GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    breaks = conn.execute("SELECT box_id, seq, reason FROM chain_breaks ORDER BY 1, 2").fetchall()
    totals = {}
    for t in ("readings", "aggregates", "events", "records"):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
        totals[t] = int(row[0]) if row else 0
    return {
        "totals": totals,
        "streams": streams,
        "gaps": [list(g) for g in gaps],
        "rejections": [list(r) for r in rejections],
        "chain_breaks": [list(b) for b in breaks],
    }
