"""Check the events' hash chain as stored, from the first remaining row to the last."""

from __future__ import annotations

import json
import sqlite3

from box.store.events import ChainReport, verify_chain


def audit_events(conn: sqlite3.Connection) -> ChainReport:
    first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    anchor = None
    if first is not None and first > 1:
        # Rows before ``first`` were removed by retention; their gap event kept the last hash.
        for (details,) in conn.execute(
            "SELECT details FROM events WHERE kind = 'gap' ORDER BY seq DESC"
        ):
            d = json.loads(details)
            if d.get("stream") == "events" and d.get("last_seq") == first - 1:
                anchor = d.get("last_hash")
                break
    rows = conn.execute(
        "SELECT seq, ts, kind, level, source, details, prev_hash, hash, hash_v FROM events"
        " ORDER BY seq"
    )
    return verify_chain(rows, anchor)
