"""A real box (its store writer, outbox, sync service and downlink) on mosquitto, the ingest
worker taking its feed and commanding it: the outbox's own envelopes land, policies and the
event chain hold; commands from `safetybox-ingest command` are accepted or refused by the box
with the replies recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
from tests.conftest import REPO, free_port, wait_for
from tests.ingest_fixtures import dsn, pg_cluster  # noqa: F401 - fixtures
from tests.test_downlink_contract import Box
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


def test_commands_reach_a_real_box_and_its_replies_land(
    dsn: str,  # noqa: F811
    broker: Broker,
    tmp_path: Path,
) -> None:
    box = Box(tmp_path, broker)
    port = free_port()
    worker = None
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def command(*args: str) -> dict[str, object]:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "ingest",
                "command",
                "--dsn",
                dsn,
                "--port",
                str(broker.port),
                box.box_id,
                *args,
                "--who",
                "ops",
                "--wait",
                "15",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)  # type: ignore[no-any-return]

    try:
        with psycopg.connect(dsn) as conn:
            import_export(conn, box.prov)
        worker = start_worker(dsn, broker.port, "w-real", tmp_path, port, "real")
        wait_healthy(port)
        box.start()
        ok = command("ack", "t1.lel:A1", "--note", "on my way")
        refused = command("ack", "no.such:A9")

        def audited() -> bool:
            with psycopg.connect(dsn) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM events WHERE kind = 'downlink_command'"
                ).fetchone()
            return bool(row and row[0] == 1)

        wait_for(audited, timeout=20, what="the box's audit event in PostgreSQL")
        with psycopg.connect(dsn) as conn:
            rep = summary(conn)
    finally:
        if worker is not None:
            stop(worker)
        box.close()
    assert ok["seq"] == 1 and ok["accepted"] is True and ok["code"] == "ok"
    assert ok["result"] == {"alarm": "t1.lel:A1", "state": "active_ack"}
    assert box.box.acks == ["t1.lel:A1"]
    assert refused["seq"] == 2 and refused["accepted"] is False and refused["code"] != "ok"
    assert rep["chain_breaks"] == [] and rep["rejections"] == []
