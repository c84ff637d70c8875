"""Stream readings out of the store as CSV or JSON lines, in insertion order, without loading
them all into memory."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from typing import IO, Any

from box.core.records import Quality
from box.timeparse import iso_utc

FORMATS = ("csv", "jsonl")
FIELDS = ["id", "channel", "ts", "ts_ms", "value", "quality"]


def query_readings(
    conn: sqlite3.Connection,
    channel: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch: int = 10_000,
) -> Iterator[tuple[int, str, int, float | None, int]]:
    where = []
    params: list[Any] = []
    if channel is not None:
        where.append("c.name = ?")
        params.append(channel)
    if since_ms is not None:
        where.append("r.ts >= ?")
        params.append(since_ms)
    if until_ms is not None:
        where.append("r.ts < ?")
        params.append(until_ms)
    # Only fixed condition strings are joined; every value is a bound parameter.
    condition = " WHERE " + " AND ".join(where) if where else ""
    sql = f"SELECT r.id, c.name, r.ts, r.value, r.quality FROM readings r JOIN channels c ON c.id = r.channel_id{condition} ORDER BY r.id"  # noqa: E501, S608
    cur = conn.execute(sql, params)
    while rows := cur.fetchmany(batch):
        yield from rows


def write_readings(
    rows: Iterator[tuple[Any, ...]], out: IO[str], fmt: str, progress: Any = None
) -> int:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    count = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(FIELDS)
    for rid, channel, ts, value, quality in rows:
        q = Quality(quality).name.lower()
        if writer:
            writer.writerow([rid, channel, iso_utc(ts), ts, "" if value is None else value, q])
        else:
            record = {
                "id": rid,
                "channel": channel,
                "ts": iso_utc(ts),
                "ts_ms": ts,
                "value": value,
                "quality": q,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(10_000)
    return count
