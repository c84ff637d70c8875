"""Schema steps of the store, applied in order and recorded in ``_sqlite_migrations``.

The record table has the layout sqlite-utils' migrations used (stores made before keep
working); applying the steps needs only the connection, so opening the store loads no
table-manipulation library (sqlite-utils pulled in numpy: ~15 MiB of the daemon's memory).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

Step = Callable[["sqlite3.Connection"], None]
TABLE = "_sqlite_migrations"


@dataclass(frozen=True)
class _Step:
    name: str
    fn: Step


class Migrations:
    """A named, ordered set of schema steps; each runs once per store, in its own transaction
    together with the record that it ran (a failing step leaves no trace and stays pending)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: list[_Step] = []

    def __call__(self, *, name: str) -> Callable[[Step], Step]:
        def register(fn: Step) -> Step:
            if any(s.name == name for s in self._steps):
                raise ValueError(f"migration {name!r} is registered twice in {self.name!r}")
            self._steps.append(_Step(name, fn))
            return fn

        return register

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._steps]

    def applied(self, conn: sqlite3.Connection) -> list[str]:
        """Names of the steps this store has had, in the order they ran (read-only)."""
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone():
            return []
        rows = conn.execute(
            f"SELECT name FROM {TABLE} WHERE migration_set = ? ORDER BY rowid",  # noqa: S608
            (self.name,),
        )
        return [name for (name,) in rows]

    def apply(self, conn: sqlite3.Connection) -> None:
        """Run the pending steps (``conn`` in autocommit mode: transactions are explicit)."""
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("id" INTEGER PRIMARY KEY,'
            ' "migration_set" TEXT, "name" TEXT, "applied_at" TEXT)'
        )
        conn.execute(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "idx_{TABLE}_migration_set_name"'
            f' ON "{TABLE}" ("migration_set", "name")'
        )
        done = set(self.applied(conn))
        for step in self._steps:
            if step.name in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                step.fn(conn)
                conn.execute(
                    f"INSERT INTO {TABLE}(migration_set, name, applied_at) VALUES (?,?,?)",  # noqa: S608
                    (self.name, step.name, str(dt.datetime.now(dt.UTC))),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


MIGRATIONS = Migrations("safetybox")


@MIGRATIONS(name="0001_initial")
def initial(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    # Ids only grow: retention never deletes the newest reading, so max(id) + 1 never goes back
    # and sync cursors stay valid, without AUTOINCREMENT's per-row bookkeeping (~45 % slower).
    db.execute(
        "CREATE TABLE readings ("
        " id INTEGER PRIMARY KEY,"
        " channel_id INTEGER NOT NULL REFERENCES channels(id),"
        " ts INTEGER NOT NULL,"
        " value REAL,"
        " quality INTEGER NOT NULL)"
    )
    # Time index only: readings arrive in time order, so it is append-mostly and cheap. A
    # (channel, ts) index halves ingest because channels interleave; per-channel trends belong
    # in a rollup table instead.
    db.execute("CREATE INDEX readings_ts ON readings(ts)")
    db.execute(
        "CREATE TABLE events ("
        " seq INTEGER PRIMARY KEY,"
        " ts INTEGER NOT NULL,"
        " kind TEXT NOT NULL,"
        " level INTEGER NOT NULL,"
        " source TEXT NOT NULL,"
        " details TEXT NOT NULL,"
        " prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX events_kind_ts ON events(kind, ts)")
    db.execute(
        "CREATE TABLE state ("
        " key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ts INTEGER NOT NULL)"
    )


@MIGRATIONS(name="0002_users")
def users(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE users ("
        " name TEXT PRIMARY KEY,"
        " password_hash TEXT NOT NULL,"
        " role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),"
        " must_change INTEGER NOT NULL DEFAULT 1,"
        " failed INTEGER NOT NULL DEFAULT 0,"
        " locked_until INTEGER NOT NULL DEFAULT 0,"
        " created_ts INTEGER NOT NULL)"
    )


@MIGRATIONS(name="0003_minute_rollups")
def minute_rollups(db: sqlite3.Connection) -> None:
    # Per channel and minute: what trend charts of a day or a week read instead of raw rows.
    db.execute(
        "CREATE TABLE rollups ("
        " channel_id INTEGER NOT NULL,"
        " minute INTEGER NOT NULL,"
        " min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY (channel_id, minute)) WITHOUT ROWID"
    )


@MIGRATIONS(name="0004_records")
def records(db: sqlite3.Connection) -> None:
    # Every record type but readings and events (positions, detections, plug-ins' types), as
    # (type, ts, key, data JSON). Ids only grow, like readings', so the outbox's cursor works.
    db.execute(
        "CREATE TABLE records ("
        " id INTEGER PRIMARY KEY,"
        " type TEXT NOT NULL,"
        " ts INTEGER NOT NULL,"
        " key TEXT NOT NULL,"
        " data TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX records_type_ts ON records(type, ts)")


@MIGRATIONS(name="0005_event_hash_version")
def event_hash_version(db: sqlite3.Connection) -> None:
    # Rows written before are hash version 1 (box/store/events.py); new rows are written as 2.
    db.execute("ALTER TABLE events ADD COLUMN hash_v INTEGER NOT NULL DEFAULT 1")


@MIGRATIONS(name="0006_chain_anchor")
def chain_anchor(db: sqlite3.Connection) -> None:
    # One row: the events chain's sealed checkpoint (box/store/anchor.py). mac '' = not sealed
    # yet: the writer seals the rows as they are when it first opens a store that predates it.
    db.execute(
        "CREATE TABLE chain_anchor ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " first_seq INTEGER NOT NULL, first_prev TEXT NOT NULL,"
        " last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL,"
        " count INTEGER NOT NULL, mac TEXT NOT NULL)"
    )
    genesis = "0" * 64
    db.execute(
        "INSERT INTO chain_anchor SELECT 1, coalesce(min(seq), 0),"
        " coalesce((SELECT prev_hash FROM events ORDER BY seq LIMIT 1), ?), coalesce(max(seq), 0),"
        " coalesce((SELECT hash FROM events ORDER BY seq DESC LIMIT 1), ?), count(*), ''"
        " FROM events",
        [genesis, genesis],
    )
