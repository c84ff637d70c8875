"""MQTT connection (paho-mqtt 2.x): TLS, Last Will, retained birth message, PUBACK tracking,
and reconnection forever: at once after a drop, then on the schedule of box/sync/backoff.py
(paho's own has no jitter and waits before the first retry).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from box.sync.backoff import Backoff
from box.sync.config import SyncSection

log = logging.getLogger(__name__)

# CONNACK reason codes (MQTT 5; paho maps 3.1.1's 4 and 5 onto 134 and 135) that no quick
# retry can change: bad user name or password, not authorised, banned, bad auth method.
REFUSED_FOR_CREDENTIALS = frozenset({134, 135, 138, 140})
# Persistent session: commands published while the box is away wait for it at the broker.
# MQTT 5 needs an explicit expiry (0 would end the session at disconnect); a day is far longer
# than any command stays fresh (sync.command_max_skew_s), and bounds the broker's queue.
SESSION_EXPIRY_S = 86400


def topics(prefix: str, box_id: str) -> dict[str, str]:
    base = f"{prefix}/{box_id}"
    return {"status": f"{base}/status", "up": f"{base}/up", "down": f"{base}/down"}


class Transport:
    def __init__(
        self,
        cfg: SyncSection,
        box_id: str,
        birth: Callable[[], dict[str, Any]],
        on_command: Callable[[bytes], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.box_id = box_id
        self.birth = birth
        self.on_command = on_command
        self.topics = topics(cfg.topic_prefix, box_id)
        self.connected = threading.Event()
        self.last_error = ""
        self.connects = 0
        # Called (no arguments, on the network thread) once a connection is up: the sync
        # thread's wake-up, so the backlog leaves the moment the broker is back.
        self.on_connected: Callable[[], None] | None = None
        self.backoff = Backoff(cfg.reconnect_min_s, cfg.reconnect_max_s)
        self._connected_at: float | None = None  # monotonic time the current connection came up
        self._acked: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = self._make_client()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        v5 = cfg.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"safetybox-{self.box_id}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.broker_password())
        if cfg.tls:
            client.tls_set(
                ca_certs=str(cfg.tls.ca_file),
                certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        will = {"state": "offline", "box_id": self.box_id, "reason": "lost"}
        client.will_set(self.topics["status"], json.dumps(will), qos=1, retain=True)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Clean stop: the retained status says ``offline`` (a clean disconnect discards the Last
        Will, so nothing else would), waited for up to ``timeout``, then DISCONNECT."""
        was_connected = self.connected.is_set()
        self._stop.set()
        self._thread.join(timeout)
        try:
            if was_connected and not self._thread.is_alive():
                self._publish_offline(timeout)
            self.client.disconnect()
        except Exception:  # noqa: BLE001, S110 - already gone
            pass

    def _publish_offline(self, timeout: float) -> None:
        # The network thread has ended: this thread runs the loop until the PUBACK is in.
        body = json.dumps(self.offline_status("stopped"))
        info = self.client.publish(self.topics["status"], body, qos=1, retain=True)
        deadline = time.monotonic() + timeout
        while not info.is_published() and time.monotonic() < deadline:
            if self.client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                break

    def offline_status(self, reason: str) -> dict[str, Any]:
        """``stopped`` (published on a clean stop) or ``lost`` (the Last Will)."""
        return {"state": "offline", "box_id": self.box_id, "reason": reason, "ts": _now_ms()}

    def _run(self) -> None:
        cfg = self.cfg
        while not self._stop.is_set():
            self._stop.wait(self.backoff.next_delay())
            if self._stop.is_set():
                break
            try:
                self.client.connect(cfg.host, cfg.port, cfg.keepalive_s, **self._session())
            except ssl.SSLCertVerificationError as exc:
                self._failed(
                    f"TLS: the broker's certificate is not trusted ({exc.verify_message});"
                    " check sync.tls.ca_file"
                )
            except ssl.SSLError as exc:
                self._failed(f"TLS handshake with {cfg.host}:{cfg.port} failed: {exc}")
            except OSError as exc:
                self._failed(f"cannot reach broker {cfg.host}:{cfg.port}: {exc}")
            else:
                self._connected_at = None
                while not self._stop.is_set():
                    rc = self.client.loop(timeout=0.2)
                    if rc != mqtt.MQTT_ERR_SUCCESS:
                        break
                if self._connected_at is not None:
                    self.backoff.connection_ended(time.monotonic() - self._connected_at)
                self.connected.clear()
                self._release_waiters()

    def _session(self) -> dict[str, Any]:
        if self.cfg.protocol != "5":
            return {}  # MQTT 3.1.1: clean_session=False, set on the client
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        return {"clean_start": False, "properties": props}

    def _failed(self, message: str) -> None:
        if message != self.last_error:
            log.error("sync: %s", message)
        self.last_error = message

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._failed(f"broker refused the connection: {reason}")
            if reason.value in REFUSED_FOR_CREDENTIALS:
                self.backoff.refused()
            return
        self.connects += 1
        self.last_error = ""
        client.subscribe(self.topics["down"], qos=1)
        client.publish(self.topics["status"], json.dumps(self.birth()), qos=1, retain=True)
        self._connected_at = time.monotonic()
        self.connected.set()
        log.info("sync: connected to %s:%s", self.cfg.host, self.cfg.port)
        if self.on_connected is not None:
            self.on_connected()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()
        self._release_waiters()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        with self._lock:
            ev = self._acked.get(mid)
        if ev is not None:
            ev.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.on_command is not None:
            try:
                self.on_command(bytes(msg.payload))
            except Exception:
                log.exception("sync: downlink handler failed")

    def _release_waiters(self) -> None:
        with self._lock:
            for ev in self._acked.values():
                ev.set()  # waiters re-check the connection and treat the batch as unsent

    # -- publishing -----------------------------------------------------------------------------

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float) -> bool:
        """Publish with QoS 1; True only once the broker's PUBACK arrived."""
        if not self.connected.is_set():
            return False
        done = threading.Event()
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        with self._lock:
            self._acked[info.mid] = done
            if info.is_published():
                done.set()
        try:
            done.wait(timeout)
            return info.is_published()
        finally:
            with self._lock:
                self._acked.pop(info.mid, None)

    def publish(self, topic: str, payload: bytes) -> None:
        """Fire-and-forget QoS 1 (downlink replies)."""
        if self.connected.is_set():
            self.client.publish(topic, payload, qos=1)


def _now_ms() -> int:
    return int(time.time() * 1000)
