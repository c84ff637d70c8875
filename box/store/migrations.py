"""Schema steps of the store, applied in order and recorded in ``_sqlite_migrations``."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("safetybox")


@MIGRATIONS(name="0001_initial")
def initial(db: Database) -> None:
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
def users(db: Database) -> None:
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
def minute_rollups(db: Database) -> None:
    # Per channel and minute: what trend charts of a day or a week read instead of raw rows.
    db.execute(
        "CREATE TABLE rollups ("
        " channel_id INTEGER NOT NULL,"
        " minute INTEGER NOT NULL,"
        " min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY (channel_id, minute)) WITHOUT ROWID"
    )


@MIGRATIONS(name="0004_records")
def records(db: Database) -> None:
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
def event_hash_version(db: Database) -> None:
    # Rows written before are hash version 1 (box/store/events.py); new rows are written as 2.
    db.execute("ALTER TABLE events ADD COLUMN hash_v INTEGER NOT NULL DEFAULT 1")
