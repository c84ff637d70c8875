"""One ingest worker: an MQTT 5 shared subscription feeding the writer.

- ``$share/GROUP/PREFIX/+/up/#``: the broker splits the boxes' batches between the group's
  workers, on any number of machines; add workers to scale out.
- A persistent session (clean start off, a session expiry, a stable client id per worker):
  what the broker holds for a worker that is restarting is delivered when it is back.
- Manual acknowledgement: a message is acknowledged (PUBACK) only after the transaction that
  stored it committed. A worker killed at any point loses nothing; the broker redelivers what
  was not acknowledged and the writer's idempotency makes the repeat change nothing.
- Reconnects on the box's own schedule (box/sync/backoff.py).
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from box.sync.backoff import Backoff
from ingest import contract
from ingest.brokers import BrokerAddress
from ingest.metrics import Metrics
from ingest.writer import Ingestor, Message

log = logging.getLogger(__name__)

GROUP_MAX = 500  # messages per transaction at most
GROUP_WAIT_S = 0.02  # how long a group waits to fill once its first message arrived


@dataclass
class WorkerConfig:
    dsn: str
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "safetybox"
    group: str = "ingest"
    client_id: str = "safetybox-ingest-1"
    session_expiry_s: int = 7 * 86400
    receive_maximum: int = 1000
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0


def worker_config(
    dsn: str, broker: BrokerAddress, group: str, client_id: str, session_expiry_s: int = 7 * 86400
) -> WorkerConfig:
    b = broker
    return WorkerConfig(
        dsn,
        b.host,
        b.port,
        b.prefix,
        group,
        client_id,
        session_expiry_s,
        username=b.username,
        password=b.password,
        ca_file=b.ca_file,
    )


class Worker:
    def __init__(self, cfg: WorkerConfig, metrics: Metrics | None = None) -> None:
        self.cfg = cfg
        self.metrics = metrics or Metrics()
        self.ingestor = Ingestor(cfg.dsn, cfg.prefix, self.metrics)
        self.inbox: queue.Queue[tuple[int, mqtt.MQTTMessage]] = queue.Queue()
        self.connected = threading.Event()
        self.generation = 0  # connections so far: acks of an older connection are dropped
        self.last_error = ""
        self.backoff = Backoff(cfg.reconnect_min_s, cfg.reconnect_max_s)
        self._stop = threading.Event()
        self.client = self._make_client()
        self._net = threading.Thread(target=self._run_network, name="ingest-mqtt", daemon=True)
        self._writer = threading.Thread(target=self._run_writer, name="ingest-db", daemon=True)

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        BrokerAddress(
            cfg.host, cfg.port, cfg.prefix, cfg.username, cfg.password, cfg.ca_file
        ).apply(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Worker:
        self._net.start()
        self._writer.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._writer.join(timeout)
        self._net.join(timeout)
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001, S110 - already gone
            pass
        self.ingestor.close()

    def retire(self, idle_s: float = 5.0, timeout_s: float = 600.0) -> bool:
        """Taking a worker away for good: drain what its session holds, then end the session
        (MQTT 5: session expiry 0 on DISCONNECT), so the broker stops giving it a share of the
        group's messages. True once drained and retired."""
        deadline = time.monotonic() + timeout_s
        if not self.connected.wait(max(0.0, deadline - time.monotonic())):
            return False
        quiet_since = time.monotonic()
        seen = -1
        while time.monotonic() < deadline:
            handled = self.metrics.groups
            if handled != seen or not self.inbox.empty():
                seen, quiet_since = handled, time.monotonic()
            elif time.monotonic() - quiet_since >= idle_s:
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0
                self._stop.set()
                self._writer.join(10)
                self.client.disconnect(properties=props)
                self._net.join(10)
                return True
            time.sleep(0.1)
        return False

    def healthy(self) -> tuple[bool, str]:
        if not self.connected.is_set():
            return False, f"broker not connected: {self.last_error or 'connecting'}"
        try:
            self.ingestor.keys.keys_for("-health-", b"")
        except Exception as exc:  # noqa: BLE001 - any database failure is unhealthy
            return False, f"database: {exc}"
        return True, "ok"

    # -- network thread ---------------------------------------------------------------------------

    def _run_network(self) -> None:
        cfg = self.cfg
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.session_expiry_s
        props.ReceiveMaximum = cfg.receive_maximum
        while not self._stop.is_set():
            self._stop.wait(self.backoff.next_delay())
            if self._stop.is_set():
                break
            try:
                self.client.connect(
                    cfg.host, cfg.port, cfg.keepalive_s, clean_start=False, properties=props
                )
            except (OSError, ssl.SSLError) as exc:
                self._failed(f"cannot reach broker {cfg.host}:{cfg.port}: {exc}")
                continue
            up_since = time.monotonic()
            while not self._stop.is_set():
                if self.client.loop(timeout=0.2) != mqtt.MQTT_ERR_SUCCESS:
                    break
            self.connected.clear()
            self.backoff.connection_ended(time.monotonic() - up_since)

    def _failed(self, message: str) -> None:
        if message != self.last_error:
            log.error("ingest: %s", message)
        self.last_error = message

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            self._failed(f"broker refused the connection: {reason}")
            if reason.value in (134, 135, 138, 140):
                self.backoff.refused()
            return
        self.generation += 1
        self.last_error = ""
        # Subscribing again on a resumed session is harmless and covers a lost one.
        client.subscribe(contract.topic_filter(self.cfg.prefix, self.cfg.group), qos=1)
        client.subscribe(contract.status_filter(self.cfg.prefix), qos=1)
        self.connected.set()
        log.info(
            "ingest: connected to %s:%s as %s", self.cfg.host, self.cfg.port, self.cfg.client_id
        )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put((self.generation, msg))

    # -- writer thread -----------------------------------------------------------------------------

    def _next_group(self) -> list[tuple[int, mqtt.MQTTMessage]]:
        try:
            group = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + GROUP_WAIT_S
        while len(group) < GROUP_MAX:
            try:
                group.append(self.inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return group

    def _run_writer(self) -> None:
        while not self._stop.is_set():
            group = self._next_group()
            if not group:
                continue
            msgs = [Message(m.topic, bytes(m.payload), (gen, m.mid, m.qos)) for gen, m in group]
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    self.ingestor.handle(msgs)
                    break
                except Exception as exc:  # noqa: BLE001 - the database went away: retry
                    self._failed(f"database write failed, retrying: {exc}")
                    self.ingestor.reconnect()
                    self._stop.wait(1.0)
            else:
                return  # stopping: unacknowledged, so the broker delivers them again
            with self.metrics.lock:
                self.metrics.groups += 1
                self.metrics.commit_s += time.perf_counter() - t0
            for msg in msgs:
                gen, mid, qos = msg.token
                if qos > 0 and gen == self.generation:
                    self.client.ack(mid, qos)
