"""A small versioned migration runner: each step runs once, in order, in its own transaction,
recorded in ``ingest_schema``. Workers starting together serialise on an advisory lock, so a
fleet of them can all run ``migrate`` on start without racing.

Time-series tables are declaratively partitioned by month (``partitions.py`` creates the
partitions); where the TimescaleDB extension is installed, ``--timescale`` makes them
hypertables instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

LOCK_ID = 0x5AFE1  # pg_advisory_xact_lock key for migrations

# Tables whose rows carry a time: (table, time column). Partitioned by month on that column.
TIME_TABLES = (("readings", "ts"), ("aggregates", "from_ts"), ("events", "ts"), ("records", "ts"))

V1 = """
CREATE TABLE boxes (
    box_id        text PRIMARY KEY,
    cipher        text NOT NULL,
    downlink_key  bytea NOT NULL,
    command_seq   bigint NOT NULL DEFAULT 0,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    status        jsonb,
    status_at     timestamptz
);
CREATE TABLE box_keys (
    box_id      text NOT NULL REFERENCES boxes ON DELETE CASCADE,
    key_id      bytea NOT NULL,
    key         bytea NOT NULL,
    retired_at  timestamptz,            -- the box stopped sealing with it
    valid_until timestamptz,            -- retired_at + grace, or earlier when revoked
    PRIMARY KEY (box_id, key_id)
);
CREATE TABLE stream_state (
    box_id       text NOT NULL,
    stream       text NOT NULL,
    covered      bigint NOT NULL DEFAULT 0,     -- every seq <= covered arrived
    ahead        jsonb NOT NULL DEFAULT '[]',   -- [[first, last], ...] past a hole
    batches      bigint NOT NULL DEFAULT 0,
    rows         bigint NOT NULL DEFAULT 0,
    duplicates   bigint NOT NULL DEFAULT 0,
    last_ts      timestamptz,                   -- newest row time received
    last_at      timestamptz,                   -- when the newest batch arrived
    PRIMARY KEY (box_id, stream)
);
CREATE TABLE gaps (
    id          bigserial PRIMARY KEY,
    box_id      text NOT NULL,
    stream      text NOT NULL,
    from_seq    bigint NOT NULL,
    to_seq      bigint NOT NULL,
    count       bigint NOT NULL,
    reason      text NOT NULL,                  -- evicted (named by the box)
    detected_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (box_id, stream, from_seq, to_seq)
);
CREATE TABLE rejections (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    box_id      text,                           -- from the header, when it could be read
    topic       text NOT NULL,
    reason      text NOT NULL,
    envelope_sha256 bytea NOT NULL,
    size        integer NOT NULL,
    UNIQUE (envelope_sha256, reason)
);
CREATE TABLE chain_breaks (
    box_id      text NOT NULL,
    seq         bigint NOT NULL,
    reason      text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (box_id, seq)
);
CREATE TABLE commands (
    box_id     text NOT NULL REFERENCES boxes ON DELETE CASCADE,
    seq        bigint NOT NULL,
    cmd        text NOT NULL,
    args       jsonb NOT NULL,
    who        text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    published  boolean NOT NULL DEFAULT false,
    accepted   boolean,
    reason     text,
    result     jsonb,
    replied_at timestamptz,
    PRIMARY KEY (box_id, seq)
);
"""

# The time-series tables: the unique key names box and row sequence; the partition column
# must be part of it, and for one box's row n the time never differs, so it is still one row.
SERIES = """
CREATE TABLE readings (
    box_id text NOT NULL, seq bigint NOT NULL, ts timestamptz NOT NULL,
    channel text NOT NULL, value double precision, quality text NOT NULL,
    historical boolean NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (box_id, seq, ts)
) {part_ts};
CREATE TABLE aggregates (
    box_id text NOT NULL, batch_last bigint NOT NULL, channel text NOT NULL,
    from_ts timestamptz NOT NULL, to_ts timestamptz NOT NULL,
    min double precision NOT NULL, max double precision NOT NULL,
    mean double precision NOT NULL, last double precision NOT NULL, count bigint NOT NULL,
    historical boolean NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (box_id, batch_last, channel, from_ts)
) {part_from_ts};
CREATE TABLE events (
    box_id text NOT NULL, seq bigint NOT NULL, ts timestamptz NOT NULL,
    kind text NOT NULL, level smallint NOT NULL, source text NOT NULL, details jsonb NOT NULL,
    prev_hash text NOT NULL, hash text NOT NULL, historical boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (box_id, seq, ts)
) {part_ts};
CREATE TABLE records (
    box_id text NOT NULL, seq bigint NOT NULL, ts timestamptz NOT NULL,
    type text NOT NULL, key text NOT NULL, data jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (box_id, seq, ts)
) {part_ts};
CREATE INDEX readings_channel_ts ON readings (box_id, channel, ts);
CREATE INDEX events_kind_ts ON events (kind, ts);
CREATE INDEX records_type_ts ON records (type, ts);
"""


def timescale_available(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


def _try_timescale(conn: psycopg.Connection, mode: str) -> bool:
    """Whether to make hypertables: ``yes`` insists, ``auto`` uses the extension when it is
    installed and loads (it needs ``shared_preload_libraries``), ``no`` never."""
    if mode == "no":
        return False
    if not timescale_available(conn):
        if mode == "yes":
            raise RuntimeError("--timescale yes, but the timescaledb extension is not installed")
        return False
    try:
        with conn.transaction():  # a savepoint: a failure leaves the migration usable
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        if mode == "yes":
            raise
        log.warning(
            "ingest: timescaledb is installed but cannot be loaded (%s):"
            " using declarative partitioning",
            exc,
        )
        return False
    return True


def _v2_series(mode: str) -> Callable[[psycopg.Connection], None]:
    def run(conn: psycopg.Connection) -> None:
        timescale = _try_timescale(conn, mode)
        if timescale:
            conn.execute(SERIES.format(part_ts="", part_from_ts=""))
            for table, col in TIME_TABLES:
                conn.execute(
                    "SELECT create_hypertable(%s, %s, chunk_time_interval => interval '1 day')",
                    (table, col),
                )
        else:
            conn.execute(
                SERIES.format(
                    part_ts="PARTITION BY RANGE (ts)", part_from_ts="PARTITION BY RANGE (from_ts)"
                )
            )
        conn.execute(
            "INSERT INTO ingest_settings (name, value) VALUES ('series', %s)",
            ("timescale" if timescale else "partitioned",),
        )

    return run


def steps(timescale: str) -> list[tuple[int, str, Callable[[psycopg.Connection], None]]]:
    return [
        (1, "registry, state, gaps, rejections, commands", lambda c: c.execute(V1)),
        (
            2,
            "settings",
            lambda c: c.execute(
                "CREATE TABLE ingest_settings (name text PRIMARY KEY, value text NOT NULL)"
            ),
        ),
        (3, "time-series tables", _v2_series(timescale)),
        (
            4,
            "hole ages for resend requests",
            lambda c: c.execute(
                "ALTER TABLE stream_state ADD COLUMN holes_since timestamptz,"
                " ADD COLUMN resend_at timestamptz"
            ),
        ),
        (
            5,
            "event hash versions, reply codes",
            lambda c: c.execute(
                "ALTER TABLE events ADD COLUMN hash_v smallint NOT NULL DEFAULT 1;"
                " ALTER TABLE commands ADD COLUMN code text"
            ),
        ),
    ]


def migrate(dsn: str, timescale: str = "auto") -> list[int]:
    """Apply the steps not applied yet; returns their versions. ``timescale``: auto/yes/no."""
    applied: list[int] = []
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ingest_schema (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        for version, name, run in steps(timescale):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
                done = conn.execute(
                    "SELECT 1 FROM ingest_schema WHERE version = %s", (version,)
                ).fetchone()
                if done:
                    continue
                run(conn)
                conn.execute(
                    "INSERT INTO ingest_schema (version, name) VALUES (%s, %s)", (version, name)
                )
                applied.append(version)
    return applied


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM ingest_schema").fetchone()
    return int(row[0]) if row else 0
