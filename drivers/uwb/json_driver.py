"""A generic JSON position source: an MQTT topic (the DWM1001 gateway, RTLS platforms) or a
TCP stream of one JSON message per line, with a configurable field mapping."""

from __future__ import annotations

import socket
import threading
from typing import Any, Literal

from pydantic import ConfigDict, Field

from drivers.uwb.base import UwbConfig, UwbDriver
from drivers.uwb.mapping import FieldMap, parse_message
from drivers.uwb.zh import zh_names

MAX_LINE = 1 << 20


class JsonSourceConfig(UwbConfig):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    type: Literal["uwb_json"] = "uwb_json"
    transport: Literal["mqtt", "tcp"] = "mqtt"
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = Field(default="dwm/node/+/uplink/location", description="MQTT subscription")
    username: str = ""
    password: str = ""
    fields: FieldMap = Field(default_factory=lambda: FieldMap(tag="", tag_from_topic=2))


class JsonSourceDriver(UwbDriver):
    type_key = "uwb_json"
    config_model = JsonSourceConfig
    config: JsonSourceConfig

    def handle(self, payload: bytes | str, topic: str = "") -> None:
        try:
            fixes = parse_message(payload, self.config.fields, topic)
        except ValueError as exc:
            self.refuse(f"{topic or 'tcp'}: {exc}")
            return
        self.emit(fixes)

    def run(self, stop: threading.Event) -> None:
        if self.config.transport == "tcp":
            self._run_tcp(stop)
        else:
            self._run_mqtt(stop)

    def _run_tcp(self, stop: threading.Event) -> None:
        with socket.create_connection((self.config.host, self.config.port), timeout=5) as s:
            s.settimeout(0.5)
            buf = b""
            while not stop.is_set():
                try:
                    data = s.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    raise ConnectionError("the position source closed the connection")
                buf += data
                *lines, buf = buf.split(b"\n")
                if len(buf) > MAX_LINE:
                    self.refuse("a line longer than 1 MiB: dropped")
                    buf = b""
                for line in lines:
                    if line.strip():
                        self.handle(line)

    def _run_mqtt(self, stop: threading.Event) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        topic = self.config.topic

        def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            c.subscribe(topic, qos=0)

        client.on_connect = on_connect
        client.on_message = lambda c, u, msg: self.handle(bytes(msg.payload), msg.topic)
        client.connect(self.config.host, self.config.port, keepalive=30)
        client.loop_start()
        try:
            stop.wait()
        finally:
            client.loop_stop()
            client.disconnect()
