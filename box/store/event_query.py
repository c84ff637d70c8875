"""Read stored events with filters, newest first in the query, for ``safetybox events list``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EventFilter:
    kinds: Sequence[str] = ()
    sources: Sequence[str] = ()
    levels: Sequence[int] = ()
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 100


def query_events(conn: sqlite3.Connection, f: EventFilter) -> list[dict[str, Any]]:
    """The newest ``f.limit`` events that match, returned oldest first (as a log reads)."""
    where: list[str] = []
    params: list[Any] = []
    for column, values in (("kind", f.kinds), ("source", f.sources), ("level", f.levels)):
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if f.since_ms is not None:
        where.append("ts >= ?")
        params.append(f.since_ms)
    if f.until_ms is not None:
        where.append("ts < ?")
        params.append(f.until_ms)
    # Only fixed column names and placeholders are joined; every value is a bound parameter.
    condition = " WHERE " + " AND ".join(where) if where else ""
    sql = f"SELECT seq, ts, kind, level, source, details FROM events{condition} ORDER BY seq DESC LIMIT ?"  # noqa: E501, S608
    rows = conn.execute(sql, [*params, f.limit]).fetchall()
    return [
        {
            "seq": seq,
            "ts_ms": ts,
            "kind": kind,
            "level": level,
            "source": source,
            "details": json.loads(details),
        }
        for seq, ts, kind, level, source, details in reversed(rows)
    ]
