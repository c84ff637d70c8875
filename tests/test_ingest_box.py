"""A real box (its store writer, outbox and sync service) publishing to mosquitto, the ingest
worker taking its feed: the outbox's own envelopes land, policies and the event chain hold."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from box.core.records import Event, now_ms
from ingest.bench import start_worker, stop, wait_healthy
from ingest.registry import import_export
from ingest.report import summary
from tests.broker import Broker
from tests.conftest import free_port, wait_for
from tests.ingest_fixtures import dsn, pg_cluster  # noqa: F401 - fixtures
from tests.test_sync import Site

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


def test_a_real_box_feed_lands_with_its_chain_intact(
    dsn: str,  # noqa: F811
    broker: Broker,
    tmp_path: Path,
) -> None:
    s = Site(tmp_path, broker)
    port = free_port()
    worker = None
    try:
        with psycopg.connect(dsn) as conn:
            import_export(conn, s.keyring.export(s.box_id, "aes-256-gcm"))
        worker = start_worker(dsn, broker.port, "w-box", tmp_path, port, "box")
        wait_healthy(port)
        s.ingest(700, "a")
        s.ingest(20, "secret")  # upstream = "none": stays on site, its seqs still covered
        s.ingest(40, "agg")  # upstream = "aggregate"
        s.writer.submit_event(Event("alarm_raised", "a", now_ms(), 1, {"channel": "a"}))
        s.writer.submit_event(Event("fault", "secret", now_ms(), 3, {"channel": "secret"}))
        s.writer.submit_event(Event("alarm_cleared", "a", now_ms(), 0, {"channel": "a"}))
        s.writer.flush()
        s.start_sync()
        s.ingest(300, "a", start=700.0)
        head = s.head()

        def landed() -> bool:
            with psycopg.connect(dsn) as conn:
                st = summary(conn)["streams"]
            return (
                st.get(f"{s.box_id}/readings", {}).get("covered") == head
                and st.get(f"{s.box_id}/events", {}).get("covered") == 3
            )

        wait_for(landed, timeout=30, what="the box's feed in PostgreSQL")
        time.sleep(0.3)
        with psycopg.connect(dsn) as conn:
            rep = summary(conn)
            channels = dict(
                conn.execute("SELECT channel, count(*) FROM readings GROUP BY 1").fetchall()
            )
            events = conn.execute("SELECT seq, kind FROM events ORDER BY seq").fetchall()
            agg = conn.execute("SELECT sum(count) FROM aggregates").fetchone()
            versions = conn.execute("SELECT DISTINCT hash_v FROM events").fetchall()
    finally:
        if worker is not None:
            stop(worker)
        s.close()
    assert channels == {"a": 1000}
    assert agg == (40,)
    assert versions == [(2,)]  # the box's current hash recipe (RFC 8785), verified
    # Event 2 (a 'none' channel's) stays on site: the chain is checked across the hole.
    assert events == [(1, "alarm_raised"), (3, "alarm_cleared")]
    assert rep["chain_breaks"] == [] and rep["rejections"] == [] and rep["gaps"] == []
    assert json.dumps(rep["streams"])  # all serialisable, no holes
    assert all(not v["holes"] for v in rep["streams"].values())
