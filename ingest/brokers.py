"""Where the broker is and how to log in: shared by workers, commands and resend requests."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class BrokerAddress:
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "safetybox"  # the boxes' sync.topic_prefix
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None  # TLS when set (the broker's certificate is verified)

    def apply(self, client: mqtt.Client) -> None:
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.ca_file:
            client.tls_set(ca_certs=str(self.ca_file), cert_reqs=ssl.CERT_REQUIRED)
