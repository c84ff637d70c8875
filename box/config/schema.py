"""The typed schema of ``box.toml``. Driver sections come from the driver registry."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, field_validator

from box.config.base import Identifier, StrictModel
from drivers.base import DriverConfig, DriverRegistry

CONFIG_VERSION = 1

ChannelKind = Literal[
    "gas_lel", "gas_ppm", "gas_vol", "o2", "temperature", "pressure", "humidity", "flow",
    "level", "position", "other",
]  # fmt: skip


class BoxSection(StrictModel):
    name: str = Field(default="SafetyBox", min_length=1, max_length=80)
    site: str = Field(default="", max_length=200)


class StoreSection(StrictModel):
    retention_days: float = Field(default=90, gt=0, le=3650, description="readings kept this long")
    event_retention_days: float = Field(default=3650, gt=0, le=36500)
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


class LimitRule(StrictModel):
    """The minimal rule stage: an event when a value crosses a limit and when it clears."""

    high: float | None = None
    low: float | None = None
    deadband: float = Field(default=0.0, ge=0, description="clear only this far inside the limit")


class ChannelConfig(StrictModel):
    id: Identifier
    kind: ChannelKind
    unit: str = Field(max_length=16)
    name: str = Field(default="", max_length=80)
    zone: str = Field(default="", max_length=64)
    limit: LimitRule | None = None


class BoxConfigBase(StrictModel):
    config_version: Literal[1] = CONFIG_VERSION
    box: BoxSection = Field(default_factory=BoxSection)
    store: StoreSection = Field(default_factory=StoreSection)
    web: WebSection = Field(default_factory=WebSection)
    channels: list[ChannelConfig] = Field(default_factory=list)
    drivers: list[DriverConfig] = Field(default_factory=list)

    def channel(self, channel_id: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.id == channel_id), None)


class UnavailableDriverConfig(DriverConfig):
    """A section for a driver that is installed but failed to import: kept, reported, not run."""

    model_config = {"extra": "allow"}


def build_config_model(registry: DriverRegistry) -> type[BoxConfigBase]:
    """The full schema, with one ``drivers`` variant per registered driver type."""
    variants: list[Any] = list(registry.config_models())
    if registry.failed:
        failed = tuple(sorted(registry.failed))
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
