"""Monthly partitions of the time-series tables, created on demand (a backfill from last year
gets its month) on a separate autocommit connection, before the batch's own transaction."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
from psycopg import sql

from ingest.migrations import TIME_TABLES

# Row times outside these years are rejected, not given a partition (a box with a clock at
# 1970 or 2106 should show up as a rejection, not as a thousand empty partitions).
MIN_YEAR, MAX_YEAR = 2000, 2200


def month_of(ts_ms: int) -> tuple[int, int]:
    d = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)
    return d.year, d.month


_MIN_MS = int(dt.datetime(MIN_YEAR, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
_MAX_MS = int(dt.datetime(MAX_YEAR, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


def in_range(ts_ms: int) -> bool:
    return _MIN_MS <= ts_ms < _MAX_MS


class Partitions:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.known: set[tuple[int, int]] = set()
        self.lock = threading.Lock()
        self.mode: str | None = None

    def ensure(self, months: set[tuple[int, int]]) -> None:
        missing = months - self.known
        if not missing:
            return
        with self.lock, psycopg.connect(self.dsn, autocommit=True) as conn:
            if self.mode is None:
                row = conn.execute(
                    "SELECT value FROM ingest_settings WHERE name = 'series'"
                ).fetchone()
                self.mode = row[0] if row else "partitioned"
            if self.mode == "timescale":  # hypertables make their own chunks
                self.known |= missing
                return
            for year, month in sorted(missing):
                start = dt.date(year, month, 1)
                end = dt.date(year + month // 12, month % 12 + 1, 1)
                with conn.transaction():
                    # Workers creating the same month serialise here instead of failing.
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x5AFE2,))
                    for table, _col in TIME_TABLES:
                        conn.execute(
                            sql.SQL(
                                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {}"
                                " FOR VALUES FROM ({}) TO ({})"
                            ).format(
                                sql.Identifier(f"{table}_{year:04d}_{month:02d}"),
                                sql.Identifier(table),
                                sql.Literal(f"{start.isoformat()} 00:00:00+00"),
                                sql.Literal(f"{end.isoformat()} 00:00:00+00"),
                            )
                        )
                self.known.add((year, month))
