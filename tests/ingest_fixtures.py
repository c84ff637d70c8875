"""PostgreSQL for the ingest tests: one throw-away cluster per session (initdb in a temporary
folder, a free loopback port, run as an unprivileged user when we are root), a fresh database
with the schema per test."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ingest.migrations import migrate
from ingest.testbed import TempPostgres, Unavailable

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempPostgres]:
    # Not under pytest's basetemp: that folder is 0700 and any pytest starting on the machine
    # resets it so, which would shut the unprivileged postgres user out mid-run.
    top = Path(tempfile.mkdtemp(prefix="safetybox-pg-"))
    try:
        try:
            pg = TempPostgres(top / "cluster")
        except Unavailable as exc:
            pytest.skip(reason=f"PostgreSQL cannot run here: {exc}")
        try:
            yield pg
        finally:
            pg.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def dsn(pg_cluster: TempPostgres) -> str:
    name = f"t{next(_names)}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    out = pg_cluster.dsn.replace("dbname=postgres", f"dbname={name}")
    migrate(out)
    return out
