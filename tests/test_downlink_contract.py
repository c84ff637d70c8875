"""Downlink commands and the clean stop against a real mosquitto: malformed but authentic
commands are answered, nonces are never accepted twice, float timestamps are fine, the cipher
is pinned, commands wait in the persistent session while the box is away, and a clean stop
sends what is pending and leaves the retained status ``offline``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from box.config.loader import parse_config
from box.core.errors import CommandRefused
from box.core.records import Event, Quality, Reading, now_ms
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.writer import StoreWriter
from box.sync.downlink import Downlink
from box.sync.envelope import open_envelope
from box.sync.keyring import SyncKeyring
from box.sync.service import SyncService
from sim.upstream import seal_command
from tests.broker import Broker
from tests.conftest import open_reader, run_cli, wait_for

pytestmark = pytest.mark.slow


class CommandBox:
    """The box side the downlink talks to: real store writer, commands that only record."""

    def __init__(self, box_id: str, config: Any, writer: StoreWriter) -> None:
        self.box_id = box_id
        self.config = config
        self.writer = writer
        self.acks: list[str] = []

    def submit_event(self, event: Event) -> None:
        self.writer.submit_event(event)

    def set_state(self, key: str, value: str | None) -> None:
        self.writer.set_state(key, value)

    def ack(self, alarm_id: str, who: str, note: str = "") -> dict[str, Any]:
        if alarm_id != "t1.lel:A1":
            raise CommandRefused(f"no alarm {alarm_id}")
        self.acks.append(alarm_id)
        return {"alarm": alarm_id, "state": "active_ack"}


class Platform:
    """An upstream platform: publishes commands, collects the box's replies and status."""

    def __init__(self, port: int, box_id: str, sync_key: bytes, client_id: str) -> None:
        self.base = f"safetybox/{box_id}"
        self.key = sync_key
        self.replies: list[dict[str, Any]] = []
        self.uplink: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, *_: (
            c.subscribe(f"{self.base}/up/#", qos=1),
            c.subscribe(f"{self.base}/status", qos=1),
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/status"):
            self.status = json.loads(msg.payload)
            return
        _, plain = open_envelope(
            bytes(msg.payload), {__import__("hashlib").sha256(self.key).digest()[:4]: self.key}
        )
        with self.lock:
            (self.replies if msg.topic.endswith("/reply") else self.uplink).append(
                json.loads(plain)
            )

    def send(self, envelope: bytes) -> None:
        self.client.publish(f"{self.base}/down", envelope, qos=1).wait_for_publish(5)

    def reply(self, seq: int) -> dict[str, Any]:
        wait_for(lambda: any(r["seq"] == seq for r in self.replies), what=f"reply to {seq}")
        return next(r for r in self.replies if r["seq"] == seq)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Box:
    def __init__(self, tmp: Path, broker: Broker, extra: str = "") -> None:
        self.home = tmp / "box"
        if not self.home.exists():
            run_cli(self.home, "init")
        self.bh = BoxHome.under(self.home)
        keys = FileKeyProvider(self.bh.keys_dir)
        self.keyring = SyncKeyring(keys)
        self.config = parse_config(
            f"config_version = 1\n[sync]\nenabled = true\nport = {broker.port}\n"
            f"batch_max_age_s = 60\nreconnect_max_s = 1.0\nack_timeout_s = 3\n{extra}"
        )
        self.box_id = self.bh.read_box_id()
        self.writer = StoreWriter(self.bh.database_file, keys.get("store"), self.config.store)
        self.writer.start()
        self.box = CommandBox(self.box_id, self.config, self.writer)
        self.prov = self.keyring.export(self.box_id, self.config.sync.cipher)
        self.service: SyncService | None = None

    def start(self) -> SyncService:
        downlink = Downlink(self.box, self.keyring)
        self.service = SyncService(
            self.config,
            self.box_id,
            self.bh.database_file,
            FileKeyProvider(self.bh.keys_dir).get("store"),
            self.keyring,
            self.writer,
            on_command=downlink.handle,
        )
        downlink.attach(self.service)
        self.service.start()
        wait_for(lambda: self.service.transport.connected.is_set(), what="box connected")
        return self.service

    def stop_sync(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def close(self) -> None:
        self.stop_sync()
        self.writer.stop()

    def rejected(self) -> list[dict[str, Any]]:
        self.writer.flush()
        conn = open_reader(self.home)
        try:
            sql = "SELECT details FROM events WHERE kind = 'downlink_rejected' ORDER BY seq"
            return [json.loads(d) for (d,) in conn.execute(sql)]
        finally:
            conn.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def made(tmp_path: Path, broker: Broker) -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for t in reversed(things):
        t.close()


def _box(made: list[Any], tmp: Path, broker: Broker, extra: str = "") -> Box:
    b = Box(tmp, broker, extra)
    made.append(b)
    return b


def _platform(made: list[Any], broker: Broker, box: Box, client_id: str = "platform") -> Platform:
    p = Platform(broker.port, box.box_id, box.keyring.current()[1], client_id)
    made.append(p)
    return p


def test_authentic_but_malformed_commands_get_a_reply_and_nonces_never_count_twice(
    tmp_path: Path, broker: Broker, made: list[Any]
) -> None:
    box = _box(made, tmp_path, broker)
    box.start()
    up = _platform(made, broker, box)
    prov = box.prov
    up.send(seal_command(prov, 1, "", {}, body=[1]))  # authentic, but not an object
    r = up.reply(1)
    assert not r["accepted"] and r["code"] == "json" and "JSON object" in r["reason"]
    nonce = b"\x00\x00\x00\x07" + (41).to_bytes(8, "big")
    args = {"alarm": "t1.lel:A1"}
    up.send(seal_command(prov, 2, "ack_alarm", args, nonce=nonce))
    assert up.reply(2)["accepted"]
    up.send(seal_command(prov, 3, "ack_alarm", args, nonce=nonce))  # same nonce, new seq
    r = up.reply(3)
    assert not r["accepted"] and r["code"] == "nonce_reused"
    up.send(seal_command(prov, 4, "ack_alarm", args, ts_ms=now_ms() + 0.5))  # a float ts
    assert up.reply(4)["accepted"], up.reply(4)
    assert up.reply(4)["code"] == "ok"
    up.send(seal_command(prov, 5, "ack_alarm", args, cipher="sm4-gcm"))  # box is aes-256-gcm
    r = up.reply(5)
    assert not r["accepted"] and r["code"] == "cipher" and "aes-256-gcm" in r["reason"]
    # Rejected seqs are not consumed: 5 may come again (with a new nonce), correctly sealed.
    up.send(seal_command(prov, 5, "ack_alarm", {"alarm": "nope"}))
    wait_for(lambda: len([x for x in up.replies if x["seq"] == 5]) == 2, what="second reply")
    assert [x["code"] for x in up.replies if x["seq"] == 5] == ["cipher", "refused"]
    assert box.box.acks == ["t1.lel:A1", "t1.lel:A1"]
    codes = [e["code"] for e in box.rejected()]
    assert codes == ["json", "nonce_reused", "cipher", "refused"]


def test_the_nonce_guard_survives_a_restart(
    tmp_path: Path, broker: Broker, made: list[Any]
) -> None:
    box = _box(made, tmp_path, broker)
    box.start()
    up = _platform(made, broker, box)
    nonce = b"\x00\x00\x00\x09" + (1).to_bytes(8, "big")
    up.send(seal_command(box.prov, 1, "ack_alarm", {"alarm": "t1.lel:A1"}, nonce=nonce))
    assert up.reply(1)["accepted"]
    box.stop_sync()
    box.start()
    up.send(seal_command(box.prov, 2, "ack_alarm", {"alarm": "t1.lel:A1"}, nonce=nonce))
    assert up.reply(2)["code"] == "nonce_reused"


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_commands_sent_while_the_box_is_offline_arrive_when_it_returns(
    tmp_path: Path, broker: Broker, made: list[Any], protocol: str
) -> None:
    box = _box(made, tmp_path, broker, f'protocol = "{protocol}"\n')
    box.start()  # the broker now holds the box's session and its subscription
    box.stop_sync()
    up = _platform(made, broker, box)
    up.send(seal_command(box.prov, 1, "ack_alarm", {"alarm": "t1.lel:A1"}))
    box.start()
    assert up.reply(1)["accepted"]
    assert box.box.acks == ["t1.lel:A1"]


def test_a_clean_stop_sends_what_is_pending_then_says_offline(
    tmp_path: Path, broker: Broker, made: list[Any]
) -> None:
    box = _box(made, tmp_path, broker)  # batch_max_age_s = 60: readings would wait a minute
    box.start()
    up = _platform(made, broker, box)
    wait_for(lambda: up.status.get("state") == "online", what="online")
    ts = now_ms()
    box.writer.submit_readings([Reading("x", ts + i, float(i), Quality.GOOD) for i in range(50)])
    box.writer.submit_event(Event("daemon_stopped", "daemon", ts, 0, {}))
    assert box.writer.flush()
    box.stop_sync()
    wait_for(lambda: up.status.get("state") == "offline", what="offline status")
    assert up.status["reason"] == "stopped"
    got = {p["stream"]: p for p in up.uplink}
    assert [e["kind"] for e in got["events"]["events"]] == ["daemon_stopped"]
    assert sum(len(p.get("readings", [])) for p in up.uplink) == 50
    # Retained: a platform connecting later learns the box is offline.
    late = _platform(made, broker, box, client_id="late")
    wait_for(lambda: late.status.get("state") == "offline", what="retained offline")
