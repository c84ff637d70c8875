"""Config of the upstream sync (``[sync]``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from box.alarms.config import ChannelConfig
from box.core.model import StrictModel


class SyncTls(StrictModel):
    ca_file: Path = Field(description="CA certificate(s) that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> SyncTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        return self


class RecordPolicy(StrictModel):
    """What of one record type goes upstream (positions are personal data: a site may send
    them thinned out, or keep them on the box)."""

    upstream: Literal["all", "downsampled", "thumbnail", "none"] = Field(
        default="all",
        description="all stored rows, one per key every every_s, thumbnail (snapshots: the "
        "small copy only), or none",
    )
    every_s: float = Field(default=30, gt=0, le=86400, description="for downsampled")


class SyncSection(StrictModel):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = None
    password: SecretStr | None = Field(
        default=None, description="broker password; better: password_file (kept out of box.toml)"
    )
    password_file: Path | None = Field(
        default=None,
        description="file holding the broker password (relative to box.toml's folder), so the "
        "password is not in box.toml, its history or the config API",
    )
    tls: SyncTls | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    topic_prefix: str = Field(default="safetybox", pattern=r"^[A-Za-z0-9_\-/]{1,64}$")
    cipher: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"
    batch_max_rows: int = Field(default=5000, ge=1, le=50_000)
    batch_max_age_s: float = Field(
        default=0,
        ge=0,
        le=3600,
        description="a partial batch waits at most this long for more rows; 0: it goes as soon "
        "as the link is idle (batches grow by themselves while one awaits its PUBACK)",
    )
    bandwidth_kbps: float | None = Field(default=None, gt=0, description="upload cap")
    reconnect_min_s: float = Field(
        default=0.1, gt=0, le=60, description="first retry delay (the very first is at once)"
    )
    reconnect_max_s: float = Field(
        default=1.5, gt=0, le=600, description="retry delays double up to this (with jitter)"
    )
    ack_timeout_s: float = Field(default=10, gt=0, le=300)
    stop_flush_s: float = Field(
        default=5, ge=0, le=120, description="a clean stop sends what is pending this long at most"
    )
    aggregate_interval_s: float = Field(default=60, ge=1, le=86400)
    codes: dict[str, str] = Field(
        default_factory=dict, description="platform identifiers of the box, e.g. enterprise_code"
    )
    downlink: bool = Field(default=True, description="accept sealed commands from upstream")
    command_max_skew_s: float = Field(default=300, gt=0, le=86400)
    record_policy: dict[str, RecordPolicy] = Field(
        default_factory=dict,
        description='per record type, e.g. position = { upstream = "downsampled", every_s = 60 }',
    )
    threshold_bounds: dict[str, dict[str, tuple[float, float]]] = Field(
        default_factory=dict,
        description='thresholds upstream may change: "tank1.lel" = { A1 = [10, 25] }',
    )

    @field_validator("password_file")
    @classmethod
    def _readable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("box_dir")
        path = value if value.is_absolute() or base is None else Path(base) / value
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the password file {path}: {exc}") from None
        if not secret:
            raise ValueError(f"the password file {path} is empty")
        return path

    def broker_password(self) -> str | None:
        """The password from ``password`` or ``password_file`` (read at each connect, so a
        rotated file needs no reload)."""
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password.get_secret_value() if self.password else None

    @model_validator(mode="after")
    def _backoff(self) -> SyncSection:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class SyncedConfig(Protocol):
    """What the sync service reads of the box config (the whole config satisfies it)."""

    @property
    def channels(self) -> Sequence[ChannelConfig]: ...
    @property
    def sync(self) -> SyncSection: ...
