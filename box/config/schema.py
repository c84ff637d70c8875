"""The typed schema of ``box.toml``. Driver sections come from the driver registry."""

from __future__ import annotations

import functools
import ipaddress
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, field_validator, model_validator

from box.alarms.config import AlarmSettings, ChannelAlarms, Inputs, Outputs, Profile, Vote
from box.config.base import Identifier, StrictModel
from box.sync.config import SyncSection
from drivers.base import DriverConfig, DriverRegistry

CONFIG_VERSION = 1

ChannelKind = Literal[
    "gas_lel",
    "gas_ppm",
    "gas_vol",
    "o2",
    "temperature",
    "pressure",
    "humidity",
    "flow",
    "level",
    "position",
    "other",
]


class BoxSection(StrictModel):
    name: str = Field(default="SafetyBox", min_length=1, max_length=80)
    site: str = Field(default="", max_length=200)


class StoreSection(StrictModel):
    retention_days: float = Field(default=90, gt=0, le=3650, description="readings kept this long")
    event_retention_days: float = Field(default=3650, gt=0, le=36500)
    rollup_retention_days: float = Field(default=400, gt=0, le=3650, description="trend data")
    max_size_mb: float = Field(default=2048, ge=1, description="readings evicted beyond this")
    commit_interval_ms: int = Field(default=20, ge=1, le=1000)
    commit_max_rows: int = Field(default=5000, ge=1, le=200_000)
    queue_max_batches: int = Field(default=4096, ge=16, le=1_000_000)
    maintenance_interval_s: float = Field(default=60, ge=1, le=86400)
    synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description="normal: survives a crash, may lose the last commits on power loss; "
        "full: fsync every commit (slower, wears the SD card)",
    )


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
            if not sep or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{value!r} is not HOST:PORT with a port from 1 to 65535")
            try:
                ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                if host != "localhost":
                    raise ValueError(f"{host!r} is not an IP address or 'localhost'") from None
        return values


class ChannelConfig(StrictModel):
    id: Identifier
    kind: ChannelKind
    unit: str = Field(max_length=16)
    name: str = Field(default="", max_length=80)
    zone: str = Field(default="", max_length=64)
    range: tuple[float, float] | None = Field(default=None, description="full scale [min, max]")
    safety: bool = Field(
        default=True,
        description="a safety channel: stale_after_s at most 100 s (GB 50166); every channel, "
        "safety or not, faults when offline or its quality is bad",
    )
    decimals: int = Field(default=2, ge=0, le=6, description="digits shown after the point")
    ne43: bool = Field(default=False, description="value is a 4-20 mA loop: NAMUR NE43 faults")
    alarms: ChannelAlarms = Field(default_factory=ChannelAlarms)
    upstream: Literal["raw", "aggregate", "events_only", "none"] = Field(
        default="raw",
        description="what leaves the box: every reading, min/max/mean/last per interval, "
        "alarms and events only, or nothing (process secrets stay on site)",
    )
    codes: dict[str, str] = Field(
        default_factory=dict,
        description="platform identifiers, e.g. monitoring_point_code, hazard_code, cas",
    )

    @model_validator(mode="after")
    def _checks(self) -> ChannelConfig:
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [min, max] with min < max")
        if self.safety and self.alarms.stale_after_s > 100:
            raise ValueError(
                f"alarms.stale_after_s = {self.alarms.stale_after_s} exceeds 100 s, the GB 50166 "
                "limit for a safety channel to report an offline fault; only a process channel "
                "(safety = false) may wait longer, and it still faults when offline"
            )
        if self.alarms.thresholds and self.alarms.thresholds.deadband_pct and not self.range:
            raise ValueError("alarms.thresholds.deadband_pct needs the channel's range")
        return self


class BoxConfigBase(StrictModel):
    config_version: Literal[1] = CONFIG_VERSION
    box: BoxSection = Field(default_factory=BoxSection)
    store: StoreSection = Field(default_factory=StoreSection)
    web: WebSection = Field(default_factory=WebSection)
    channels: list[ChannelConfig] = Field(default_factory=list)
    drivers: list[DriverConfig] = Field(default_factory=list)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    votes: list[Vote] = Field(default_factory=list)
    profiles: list[Profile] = Field(default_factory=list)
    outputs: Outputs = Field(default_factory=Outputs)
    inputs: Inputs = Field(default_factory=Inputs)
    sync: SyncSection = Field(default_factory=SyncSection)

    def channel(self, channel_id: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.id == channel_id), None)


class UnavailableDriverConfig(DriverConfig):
    """A section for a driver that is installed but failed to import: kept, reported, not run."""

    model_config = {"extra": "allow"}


def build_config_model(registry: DriverRegistry) -> type[BoxConfigBase]:
    """The full schema, with one ``drivers`` variant per registered driver type. Built once per
    set of drivers: every config check and reload used to create new model classes."""
    return _config_model(tuple(registry.config_models()), tuple(sorted(registry.failed)))


def config_json_schema(registry: DriverRegistry) -> dict[str, Any]:
    """The JSON Schema the config forms are generated from (shared: do not modify it)."""
    return _json_schema(build_config_model(registry))


@functools.lru_cache(maxsize=8)
def _json_schema(model: type[BoxConfigBase]) -> dict[str, Any]:
    return model.model_json_schema()


@functools.lru_cache(maxsize=8)
def _config_model(
    driver_configs: tuple[type[DriverConfig], ...], failed: tuple[str, ...]
) -> type[BoxConfigBase]:
    variants: list[Any] = list(driver_configs)
    if failed:
        variants.append(
            create_model(
                "UnavailableDriver",
                __base__=UnavailableDriverConfig,
                type=(Literal[failed], ...),  # type: ignore[valid-type]
            )
        )
    if not variants:
        item: Any = DriverConfig
    elif len(variants) == 1:
        item = variants[0]
    else:
        item = Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007
    return create_model(
        "BoxConfig", __base__=BoxConfigBase, drivers=(list[item], Field(default_factory=list))
    )
