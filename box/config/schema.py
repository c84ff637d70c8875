"""The typed schema of ``box.toml``, composed of the sections each package owns next to its
code (store, web, alarms and channels, sync). Driver sections come from the driver registry."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model

from box.alarms.config import AlarmSettings, ChannelConfig, Inputs, Outputs, Profile, Vote
from box.config.web import WebSection
from box.core.model import StrictModel
from box.store.config import StoreSection
from box.sync.config import SyncSection
from drivers.base import DriverConfig, DriverRegistry

CONFIG_VERSION = 1

__all__ = ["BoxConfigBase", "ChannelConfig", "StoreSection", "WebSection", "build_config_model"]


class BoxSection(StrictModel):
    name: str = Field(default="SafetyBox", min_length=1, max_length=80)
    site: str = Field(default="", max_length=200)


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
