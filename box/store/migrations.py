"""Schema steps of the store, applied in order and recorded in ``_sqlite_migrations``."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("safetybox")


@MIGRATIONS(name="0001_initial")
def initial(db: Database) -> None:
    db.execute("CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    # AUTOINCREMENT: ids never go back after eviction, so sync cursors stay valid.
    db.execute(
        "CREATE TABLE readings ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " channel_id INTEGER NOT NULL REFERENCES channels(id),"
        " ts INTEGER NOT NULL,"
        " value REAL,"
        " quality INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX readings_channel_ts ON readings(channel_id, ts)")
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
