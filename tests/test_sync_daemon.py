"""Sync inside the daemon: downlink commands, and kill -9 during sending."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from sim.upstream import Consumer, MqttConsumer, seal_command
from tests.broker import Broker
from tests.conftest import open_reader, run_cli, sim_body, wait_for, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


def sync_section(port: int) -> str:
    return (
        f"\n[sync]\nenabled = true\nport = {port}\nbatch_max_rows = 300\nbatch_max_age_s = 0.2\n"
        'threshold_bounds = { "t1.lel" = { A1 = [10.0, 25.0] } }\n'
    )


def body_with_sync(port: int, **kw) -> str:  # noqa: ANN003
    body = sim_body(**kw).replace('name = "valve"', 'name = "valve"\nremote = true')
    return sync_section(port) + body


def events(home: Path, kind: str) -> list[dict]:
    conn = open_reader(home)
    try:
        rows = conn.execute("SELECT details FROM events WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(d) for (d,) in rows]
    finally:
        conn.close()


def test_downlink_commands_accepted_rejected_and_replied(
    tmp_path: Path, home: Path, broker: Broker
) -> None:
    write_config(home, body_with_sync(broker.port, interval=0.05, step_at=0.2, step_back=3600))
    d = Daemon(BoxHome.under(home))
    d.start()
    mq: MqttConsumer | None = None
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="platform")
    try:
        prov = json.loads(run_cli(home, "keys", "export").output)
        consumer = Consumer(prov)
        mq = MqttConsumer(consumer, "127.0.0.1", broker.port, client_id="platform-sub").start()
        replies: list[dict] = []
        orig = consumer._emit
        consumer._emit = lambda rec: (rec["stream"] == "reply" and replies.append(rec), orig(rec))[
            1
        ]
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        down = f"safetybox/{d.box_id}/down"
        wait_for(lambda: d.sync.transport.connected.is_set(), what="box connected")
        wait_for(lambda: any(v["id"] == "t1.lel:A1" for v in d.engine.views), what="A1")

        def send(env: bytes) -> None:
            pub.publish(down, env, qos=1).wait_for_publish(5)

        send(seal_command(prov, 1, "ack_alarm", {"alarm": "t1.lel:A1", "note": "seen"}, "ops"))
        wait_for(lambda: len(replies) == 1, what="reply 1")
        assert replies[0]["accepted"] and replies[0]["result"]["state"] == "active_ack"
        send(seal_command(prov, 1, "ack_alarm", {"alarm": "t1.lel:A1"}))  # replay
        send(seal_command(prov, 2, "set_threshold", {"channel": "t1.lel", "level": "A1", "at": 99}))
        send(seal_command(prov, 3, "set_threshold", {"channel": "t1.lel", "level": "A1", "at": 20}))
        send(seal_command(prov, 4, "set_output", {"relay": "nope", "active": True}))
        send(seal_command(prov, 5, "set_output", {"relay": "valve", "active": True}))
        send(seal_command(prov, 6, "ack_alarm", {"alarm": "x"}, ts_ms=1000))  # stale
        send(seal_command(prov, 7, "shell", {"cmd": "rm -rf /"}))
        send(seal_command(prov, 8, "resend", {"stream": "events", "first": 1, "last": 2}))
        tampered = bytearray(seal_command(prov, 9, "ack_alarm", {"alarm": "t1.lel:A1"}))
        tampered[-3] ^= 1
        send(bytes(tampered))
        try:
            wait_for(lambda: len(replies) == 9, what="nine replies")
        except AssertionError:
            got = [(r["seq"], r["accepted"], r["reason"]) for r in replies]
            raise AssertionError(f"{got} rejected {consumer.rejected}") from None
        by_seq = {r["seq"]: r for r in replies[1:]}
        assert "replayed command" in by_seq[1]["reason"]
        assert "outside the allowed range [10.0, 25.0]" in by_seq[2]["reason"]
        assert by_seq[3]["accepted"] and d.engine.rules["t1.lel"].thresholds.at["A1"] == 20.0
        assert "may not be switched from upstream" in by_seq[4]["reason"]
        assert by_seq[5]["accepted"]
        wait_for(lambda: d.outputs.states()["relay:valve"]["level"] == 0, what="valve forced")
        assert "stale command" in by_seq[6]["reason"]
        assert "unknown command 'shell'" in by_seq[7]["reason"]
        assert by_seq[8]["accepted"]
        d.writer.flush()
        accepted = events(home, "downlink_command")
        assert [a["seq"] for a in accepted] == [1, 3, 5, 8]
        assert accepted[0]["who"] == "ops"
        wait_for(
            lambda: any(
                "authentication failed" in r["reason"] for r in events(home, "downlink_rejected")
            ),
            what="tampered: logged",
        )
        rejected = events(home, "downlink_rejected")
        assert len(rejected) == 6  # replay, range, relay, stale, unknown, tampered
        changed = events(home, "threshold_changed")
        assert changed[0]["who"] == "upstream:platform" and changed[0]["at"] == 20.0
    finally:
        pub.loop_stop()
        pub.disconnect()
        if mq:
            mq.stop()
        d.stop()


def test_kill_9_during_sending_then_every_row_exactly_once(
    home: Path, broker: Broker, daemon_factory
) -> None:
    write_config(home, body_with_sync(broker.port, interval=0.005))
    prov = json.loads(run_cli(home, "keys", "export").output)
    consumer = Consumer(prov)
    mq = MqttConsumer(consumer, "127.0.0.1", broker.port, client_id="oracle").start()
    try:
        d = daemon_factory(home)
        d.wait_ready()
        wait_for(
            lambda: (
                consumer.streams.get("readings") and consumer.streams["readings"].covered > 2000
            ),
            timeout=30,
            what="sending",
        )
        assert consumer.status["state"] == "online" and consumer.status["key_id"]
        d.signal(signal.SIGKILL)
        d.proc.wait(10)
        wait_for(lambda: consumer.status["state"] == "offline", what="Last Will published")
        d2 = daemon_factory(home)
        d2.wait_ready()
        wait_for(lambda: d2.status()["store"]["committed_readings"] > 500, what="more ingest")
        assert d2.stop() == 0
        conn = open_reader(home)
        head = conn.execute("SELECT max(id) FROM readings").fetchone()[0]
        last_event = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        conn.close()
        # Start once more to drain what was left when d2 stopped.
        d3 = daemon_factory(home)
        d3.wait_ready()
        wait_for(lambda: consumer.streams["readings"].covered >= head, timeout=30, what="drain")
        wait_for(lambda: consumer.streams["events"].covered >= last_event, what="events drained")
        assert consumer.holes() == {}
        assert consumer.rejected == []
    finally:
        mq.stop()


def test_sync_wait_follows_the_backfill_after_an_outage(home: Path, broker: Broker) -> None:
    import threading

    broker.stop()  # the uplink is down while the box stores readings
    write_config(home, body_with_sync(broker.port, interval=0.02, step_at=3600, step_back=7200))
    d = Daemon(BoxHome.under(home))
    d.start()
    uplink = threading.Timer(1.0, broker.start)  # the uplink returns a second into the wait
    try:
        wait_for(lambda: d.sync.status()["backlog"]["readings"] > 100, what="a backlog")
        status = json.loads(run_cli(home, "sync", "status", "--json").output)
        assert status["connected"] is False and status["backlog"]["readings"] > 100
        uplink.start()
        result = json.loads(run_cli(home, "sync", "wait", "--json", "--timeout", "60").output)
        assert result["left"] == 0 and result["sent"] > 100
        assert d.sync.status()["connected"] is True
    finally:
        uplink.cancel()
        if uplink.is_alive():
            uplink.join()  # so the fixture stops the broker it started
        d.stop()


def test_unsent_before_counts_the_backfill_range() -> None:
    from box.cli.sync_cmds import unsent_before

    sync = {"cursors": {"events": 5, "readings": 900, "backfill": [101, 400]}}
    assert unsent_before(sync, {"events": 7, "readings": 1000}) == 2 + 100 + 300
    sync["cursors"] = {"events": 7, "readings": 1000, "backfill": None}
    assert unsent_before(sync, {"events": 7, "readings": 1000}) == 0
