"""The ingest service end to end: a simulated fleet (real keys, real envelopes) publishing to
a real mosquitto, two worker processes sharing the subscription, one SIGKILLed mid-stream and
restarted; every row lands exactly once and the only gaps are those the boxes evicted. Then a
sealed command through the CLI, answered by a box, its reply recorded; and the bench."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from box.sync.envelope import key_id_bytes, open_envelope
from ingest.bench import start_worker, stop, wait_healthy
from ingest.fleet import Publisher, SimBox, make_fleet, scenario
from ingest.registry import import_export
from ingest.report import summary
from tests.broker import Broker
from tests.conftest import REPO, free_port
from tests.ingest_fixtures import dsn, pg_cluster  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


def landed_readings(dsn: str) -> int:  # noqa: F811
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


def batches_stored(metrics_port: int) -> int:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("ingest_batches_total")
    )


def test_two_workers_one_killed_every_row_once(
    dsn: str,  # noqa: F811
    broker: Broker,
    tmp_path: Path,
) -> None:
    fleet = make_fleet(30, seed=7)
    fleet[5].rotate(now=time.time() - 3600)  # sealing with a new key; the old one in grace
    with psycopg.connect(dsn) as conn:
        for b in fleet:
            import_export(conn, b.export())
    start = int(time.time() * 1000) - 3_600_000
    # Box 3 is away and evicts 30 readings; box 11 is away without losing anything.
    outages = {3: (20, 60, 30), 11: (10, 50, 0)}
    envelopes = list(scenario(fleet, 120, 40, start, outages=outages))
    expected = {b.box_id: b.expected() for b in fleet}
    total_readings = sum(len(e["readings"]) for e in expected.values())

    ports = [free_port(), free_port()]
    workers = [
        start_worker(dsn, broker.port, f"w-{i}", tmp_path, ports[i], "fleet") for i in range(2)
    ]
    killed: subprocess.Popen[bytes] | None = None
    try:
        for p in ports:
            wait_healthy(p)
        pub = Publisher("127.0.0.1", broker.port, "fleet-sim")
        th = threading.Thread(target=pub.publish, args=(envelopes, 150.0))
        th.start()
        deadline = time.monotonic() + 60
        while landed_readings(dsn) < total_readings // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = workers[0]
        at_kill = landed_readings(dsn)
        os.kill(killed.pid, signal.SIGKILL)  # mid-stream: groups in flight, acks not sent
        killed.wait(10)
        time.sleep(1.0)
        workers[0] = start_worker(dsn, broker.port, "w-0", tmp_path, ports[0], "fleet")
        th.join(90)
        pub.close()
        deadline = time.monotonic() + 60
        while landed_readings(dsn) < total_readings and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # let any last redelivery be applied before checking
        stored = [batches_stored(p) for p in ports]
    finally:
        for w in workers:
            stop(w)
    assert killed is not None and killed.returncode == -signal.SIGKILL
    assert 0 < at_kill < total_readings // 2  # killed mid-stream
    with psycopg.connect(dsn) as conn:
        for box_id, streams in expected.items():
            for stream, seqs in streams.items():
                rows = conn.execute(
                    f"SELECT seq FROM {stream} WHERE box_id = %s ORDER BY seq",  # noqa: S608
                    (box_id,),
                ).fetchall()
                got = [r[0] for r in rows]
                assert got == sorted(seqs), f"{box_id}/{stream}: {len(got)} != {len(seqs)}"
        s = summary(conn)
    lo, hi = fleet[3].evicted["readings"][0]
    assert s["gaps"] == [["sb-fleet-0003", "readings", lo, hi, 30, "evicted"]]
    assert s["rejections"] == [] and s["chain_breaks"] == []
    assert all(not v["holes"] for v in s["streams"].values()), s["streams"]
    # Both took part: the survivor, and the restarted worker (what its session held).
    assert all(n > 0 for n in stored), stored


class Responder:
    """A box's downlink end: opens commands with its downlink key (box.sync's own code) and
    answers on up/reply."""

    def __init__(self, box: SimBox, port: int) -> None:
        self.box = box
        self.commands: list[dict[str, object]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(f"safetybox/{box.box_id}/down", 1)
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        key = self.box.downlink_key
        header, plain = open_envelope(bytes(msg.payload), {key_id_bytes(key): key})
        cmd = json.loads(plain)
        self.commands.append(cmd)
        topic, data = self.box.reply(cmd["seq"], True)
        client.publish(topic, data, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_command_through_the_cli_and_the_reply_recorded(
    dsn: str,  # noqa: F811
    broker: Broker,
    tmp_path: Path,
) -> None:
    box = SimBox("sb-commanded", cipher="sm4-gcm")
    with psycopg.connect(dsn) as conn:
        import_export(conn, box.export(), command_seq=41)  # it accepted 41 commands before
    birth = {"state": "online", "box_id": "sb-commanded", "version": "0.1.0", "channels": []}
    status = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    status.connect("127.0.0.1", broker.port, 30)
    status.loop_start()
    status.publish(
        "safetybox/sb-commanded/status", json.dumps(birth), qos=1, retain=True
    ).wait_for_publish(10)
    status.disconnect()
    status.loop_stop()
    port = free_port()
    worker = start_worker(dsn, broker.port, "w-cmd", tmp_path, port, "cmd")
    responder = Responder(box, broker.port)
    try:
        wait_healthy(port)
        assert responder.subscribed.wait(10)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
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
                "sb-commanded",
                "ack",
                "tank1.lel:A1",
                "--note",
                "checked on site",
                "--who",
                "li",
                "--wait",
                "15",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    finally:
        responder.close()
        stop(worker)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["seq"] == 42 and out["replied"] and out["accepted"] is True
    assert out["code"] == "ok"
    with psycopg.connect(dsn) as conn:  # the retained birth message, kept per box
        assert conn.execute("SELECT status FROM boxes").fetchone() == (birth,)
    assert responder.commands == [
        {
            "seq": 42,
            "ts": responder.commands[0]["ts"],
            "cmd": "ack_alarm",
            "args": {"alarm": "tank1.lel:A1", "note": "checked on site"},
            "who": "li",
        }
    ]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest",
            "command",
            "--dsn",
            dsn,
            "--port",
            str(broker.port),
            "sb-nobody",
            "ack",
            "A1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert bad.returncode != 0 and "not registered" in bad.stderr


def test_bench_short_reports_no_loss() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "ingest", "bench", "--json", "--short", "--boxes", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["rows_per_s"] > 0 and result["rows_per_s_2_workers"] > 0
    assert result["boxes"] == 200


def test_a_worker_taken_away_is_drained_and_its_session_ended(
    dsn: str,  # noqa: F811
    broker: Broker,
    tmp_path: Path,
) -> None:
    fleet = make_fleet(10, seed=9)
    with psycopg.connect(dsn) as conn:
        for b in fleet:
            import_export(conn, b.export())
    start = int(time.time() * 1000) - 600_000
    ports = [free_port(), free_port()]
    workers = [start_worker(dsn, broker.port, f"r-{i}", tmp_path, ports[i], "g") for i in (0, 1)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        for p in ports:
            wait_healthy(p)
        stop(workers[0])  # stopped, its session stays: the broker queues its share for it
        pub = Publisher("127.0.0.1", broker.port, "fleet-sim")
        pub.publish(list(scenario(fleet, 20, 20, start)))
        first = sum(len(b.expected()["readings"]) for b in fleet)
        time.sleep(2.0)
        assert landed_readings(dsn) < first  # r-0's share waits in its session
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "ingest",
                "retire",
                "--dsn",
                dsn,
                "--port",
                str(broker.port),
                "--group",
                "g",
                "--client-id",
                "r-0",
                "--idle-s",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert landed_readings(dsn) == first
        # From now on the remaining worker gets everything.
        pub.publish(list(scenario(fleet, 20, 20, start + 20_000)))
        total = sum(len(b.expected()["readings"]) for b in fleet)
        deadline = time.monotonic() + 30
        while landed_readings(dsn) < total and time.monotonic() < deadline:
            time.sleep(0.1)
        pub.close()
    finally:
        for w in workers:
            stop(w)
    assert landed_readings(dsn) == total
