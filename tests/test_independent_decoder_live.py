"""A live run of the box (the daemon, a simulated driver, mosquitto), decoded by the
independent decoder written from docs/MQTT.md, agrees row for row with the box's store, for
both ciphers; a command sealed from the document is answered; a clean stop delivers everything
up to ``daemon_stopped`` and leaves the retained status offline."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests import independent_decoder as indep
from tests.broker import Broker
from tests.conftest import open_reader, run_cli, sim_body, wait_for, write_config

pytestmark = pytest.mark.slow
QUALITY = ["good", "uncertain", "bad", "stale"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


class Platform:
    def __init__(self, port: int, prov: dict[str, Any]) -> None:
        self.prov = prov
        self.base = f"safetybox/{prov['box_id']}"
        self.feed = indep.Feed(prov["box_id"], [bytes.fromhex(k["key"]) for k in prov["sync_keys"]])
        self.status: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="independent", clean_session=False
        )
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(f"{self.base}/up/#", 1), (f"{self.base}/status", 1)]
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if msg.topic.endswith("/status"):
                self.status = json.loads(msg.payload)
            else:
                self.feed.handle(bytes(msg.payload))

    def command(self, cipher: int, seq: int, cmd: str, args: dict[str, Any]) -> None:
        body = {"seq": seq, "ts": time.time() * 1000, "cmd": cmd, "args": args, "who": "indep"}
        env = indep.seal_command(
            self.prov["box_id"], bytes.fromhex(self.prov["downlink_key"]), cipher, seq, body,
            os.urandom(12),
        )  # fmt: skip
        self.client.publish(f"{self.base}/down", env, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "sm4-gcm"])
def test_a_live_run_decoded_independently_agrees_row_for_row_with_the_store(
    home: Path, broker: Broker, daemon_factory, cipher: str
) -> None:
    body = sim_body(interval=0.01, step_at=0.3, step_back=0.9).replace(
        'unit = "°C"\nsafety = false', 'unit = "°C"\nsafety = false\nupstream = "aggregate"'
    )
    write_config(
        home,
        f'\n[sync]\nenabled = true\nport = {broker.port}\ncipher = "{cipher}"\n'
        "batch_max_rows = 150\nbatch_max_age_s = 0.2\naggregate_interval_s = 1\n" + body,
    )
    prov = json.loads(run_cli(home, "keys", "export").output)
    assert prov["cipher"] == cipher
    cipher_id = 1 if cipher == "aes-256-gcm" else 2
    up = Platform(broker.port, prov)
    try:
        d = daemon_factory(home)
        d.wait_ready()
        wait_for(lambda: up.status.get("state") == "online", what="birth message")
        wait_for(lambda: d.status()["store"]["committed_readings"] > 600, what="ingest")
        up.command(cipher_id, 1, "resend", {"stream": "events", "first": 1, "last": 2})
        wait_for(lambda: up.feed.replies, what="reply")
        reply = up.feed.replies[0]
        assert reply["accepted"] and reply["code"] == "ok", reply
        assert reply["result"]["resend"] == [[1, 2]]
        assert d.stop() == 0  # SIGTERM: a clean stop
        wait_for(lambda: up.status.get("state") == "offline", what="offline status")
        assert up.status["reason"] == "stopped"
        with up.lock:
            feed = up.feed
        assert feed.rejected == [] and feed.ciphers == {cipher_id}
        conn = open_reader(home)
        try:
            readings = [
                [rid, ch, ts, value, QUALITY[q]]
                for rid, ch, ts, value, q in conn.execute(
                    "SELECT r.id, c.name, r.ts, r.value, r.quality FROM readings r "
                    "JOIN channels c ON c.id = r.channel_id ORDER BY r.id"
                )
            ]
            events = [
                {"seq": s, "ts": ts, "kind": k, "level": lv, "source": src,
                 "details": json.loads(det), "prev_hash": ph, "hash": h, "hash_v": hv}
                for s, ts, k, lv, src, det, ph, h, hv in conn.execute(
                    "SELECT seq, ts, kind, level, source, details, prev_hash, hash, hash_v "
                    "FROM events ORDER BY seq"
                )
            ]  # fmt: skip
        finally:
            conn.close()
        raw = [r for r in readings if r[1] == "t1.lel"]
        assert [feed.readings[s] for s in sorted(feed.readings)] == raw, "raw rows, one for one"
        got_events = [
            {k: v for k, v in feed.events[s].items() if k not in ("historical",)}
            for s in sorted(feed.events)
        ]
        assert got_events == events, "every event, up to daemon_stopped, as stored"
        assert events[-1]["kind"] == "daemon_stopped"
        assert feed.verify_chain() == []
        # Aggregates: the entry with the largest count per bucket is the stored bucket.
        stored: dict[tuple[str, int, int], list[float]] = {}
        for _, ch, ts, value, q in readings:
            if ch == "t1.temp" and value is not None and q in ("good", "uncertain"):
                b = ts // 1000
                stored.setdefault((ch, b * 1000, b * 1000 + 1000), []).append(value)
        assert set(feed.buckets) == set(stored)
        for key, values in stored.items():
            a = feed.buckets[key]
            assert (a[3], a[4], a[7]) == (min(values), max(values), len(values))
            assert a[5] == pytest.approx(sum(values) / len(values))
    finally:
        up.close()
