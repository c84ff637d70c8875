"""The ``[web]`` section. It lives with the config composition, not in box.web: the web app
edits config through box.config, so the section model must sit below it."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from box.core.model import StrictModel


class WebSection(StrictModel):
    listen: list[str] = Field(default_factory=lambda: ["127.0.0.1:8080"], min_length=1)
    https: bool = Field(
        default=False, description="serve HTTPS (certificate from init, or cert_file/key_file)"
    )
    cert_file: str = Field(default="", description="PEM certificate; empty: keys/web.crt")
    key_file: str = Field(default="", description="PEM private key; empty: keys/web-tls.key")
    session_idle_min: float = Field(
        default=30, gt=0, le=24 * 60, description="log out after this long without a request"
    )

    @model_validator(mode="after")
    def _cert_pair(self) -> WebSection:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("set both cert_file and key_file, or neither (init's certificate)")
        return self

    @field_validator("listen")
    @classmethod
    def _host_port(cls, values: list[str]) -> list[str]:
        for value in values:
            host, sep, port = value.rpartition(":")
            if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
                raise ValueError(f"{value!r} is not HOST:PORT with a port from 1 to 65535")
            try:
                ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                if host != "localhost":
                    raise ValueError(f"{host!r} is not an IP address or 'localhost'") from None
        return values
