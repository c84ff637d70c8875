"""MQTT connection (paho-mqtt 2.x): TLS, Last Will, retained birth message, PUBACK tracking,
and reconnection forever with exponential backoff and jitter (paho's own has no jitter).
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from box.sync.config import SyncSection

log = logging.getLogger(__name__)


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
        self._acked: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = self._make_client()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        protocol = mqtt.MQTTv5 if cfg.protocol == "5" else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"safetybox-{self.box_id}", protocol=protocol
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
        offline = json.dumps({"state": "offline", "box_id": self.box_id})
        client.will_set(self.topics["status"], offline, qos=1, retain=True)
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
        self._stop.set()
        self._thread.join(timeout)
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001, S110 - already gone
            pass

    def _run(self) -> None:
        cfg = self.cfg
        delay = cfg.reconnect_min_s
        while not self._stop.is_set():
            try:
                if cfg.username:  # read at each connect: a rotated password_file needs no reload
                    self.client.username_pw_set(cfg.username, cfg.broker_password())
                self.client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
            except ssl.SSLCertVerificationError as exc:
                self._failed(
                    f"TLS: the broker's certificate is not trusted ({exc.verify_message});"
                    " check sync.tls.ca_file"
                )
            except ssl.SSLError as exc:
                self._failed(f"TLS handshake with {cfg.host}:{cfg.port} failed: {exc}")
            except OSError as exc:
                if exc.filename is not None:  # the password file, not the network
                    self._failed(f"cannot read the broker password file: {exc}")
                else:
                    self._failed(f"cannot reach broker {cfg.host}:{cfg.port}: {exc}")
            else:
                while not self._stop.is_set():
                    rc = self.client.loop(timeout=0.2)
                    if rc != mqtt.MQTT_ERR_SUCCESS:
                        # Say why in status, unless a refusal already said more.
                        if self.connected.is_set() or not self.last_error:
                            self._failed(
                                f"connection to broker {cfg.host}:{cfg.port} lost: "
                                f"{mqtt.error_string(rc)}"
                            )
                        break
                if self.connected.is_set():
                    delay = cfg.reconnect_min_s  # the connection worked: start backoff afresh
                self.connected.clear()
                self._release_waiters()
            if self._stop.is_set():
                break
            # Full jitter on an exponential backoff: boxes behind one site router reconnect
            # at different instants after the broker returns.
            self._stop.wait(random.uniform(cfg.reconnect_min_s, delay))  # noqa: S311
            delay = min(delay * 2, cfg.reconnect_max_s)

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
            return
        self.connects += 1
        self.last_error = ""
        client.subscribe(self.topics["down"], qos=1)
        client.publish(self.topics["status"], json.dumps(self.birth()), qos=1, retain=True)
        self.connected.set()
        log.info("sync: connected to %s:%s", self.cfg.host, self.cfg.port)

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
