"""The typed schema of ``box.toml``, composed of the sections each package owns next to its
code (store, web, alarms and channels, sync). Driver sections come from the driver registry,
rule kinds' keys from the loaded rule kinds (``[channels.alarms.<kind>]``, ``[[<site kind>]]``),
plug-in outputs' items from the loaded output kinds (``[[outputs.plugins]]``)."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Final, Literal, Union

from pydantic import Field, create_model, model_validator

from box.alarms.config import AlarmSettings, ChannelAlarms, ChannelConfig, Inputs, Outputs, Profile
from box.alarms.kinds import RuleKinds, default_rule_kinds
from box.alarms.kinds.base import ChannelKind, SiteKind
from box.alarms.output_kinds import OutputConfig, OutputKinds, default_output_kinds
from box.config.templates import DeviceTemplate
from box.config.web import WebSection
from box.core.model import StrictModel
from box.store.config import StoreSection
from box.sync.config import SyncSection
from drivers.base import DriverConfig, DriverRegistry

CONFIG_VERSION: Final = 1

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
    profiles: list[Profile] = Field(default_factory=list)
    outputs: Outputs = Field(default_factory=Outputs)
    inputs: Inputs = Field(default_factory=Inputs)
    sync: SyncSection = Field(default_factory=SyncSection)
    # Expanded into channels and driver devices before validation (box/config/templates.py);
    # kept to show where those came from.
    device_templates: list[DeviceTemplate] = Field(
        default_factory=list, json_schema_extra={"x-zh": "设备模板"}
    )

    def channel(self, channel_id: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.id == channel_id), None)


class UnavailableDriverConfig(DriverConfig):
    """A section for a driver that is installed but failed to import: kept, reported, not run."""

    model_config = {"extra": "allow"}


class UnavailableOutputConfig(OutputConfig):
    """An output of a kind that is installed but failed to import: kept, reported, not run."""

    model_config = {"extra": "allow"}


def build_config_model(
    registry: DriverRegistry, kinds: RuleKinds | None = None, outputs: OutputKinds | None = None
) -> type[BoxConfigBase]:
    """The full schema, with one ``drivers`` variant per registered driver type, the keys
    of the rule kinds and one ``outputs.plugins`` variant per output kind. Built once per set
    of drivers and kinds: every config check and reload used to create new model classes."""
    kinds = kinds or default_rule_kinds()
    outputs = outputs or default_output_kinds()
    return _config_model(
        tuple(registry.config_models()),
        tuple(sorted(registry.failed)),
        kinds.channel,
        kinds.site,
        tuple(sorted(n for n in kinds.failed if ":" not in n)),  # entry-point names: the keys
        outputs.config_models(),
        tuple(sorted(n for n in outputs.failed if ":" not in n)),
    )


def config_json_schema(
    registry: DriverRegistry, kinds: RuleKinds | None = None, outputs: OutputKinds | None = None
) -> dict[str, Any]:
    """The JSON Schema the config forms are generated from (shared: do not modify it)."""
    return _json_schema(build_config_model(registry, kinds, outputs))


@functools.lru_cache(maxsize=8)
def _json_schema(model: type[BoxConfigBase]) -> dict[str, Any]:
    return model.model_json_schema()


@functools.lru_cache(maxsize=8)
def _config_model(
    driver_configs: tuple[type[DriverConfig], ...],
    failed: tuple[str, ...],
    channel_kinds: tuple[ChannelKind, ...],
    site_kinds: tuple[SiteKind, ...],
    failed_kinds: tuple[str, ...] = (),
    output_configs: tuple[type[OutputConfig], ...] = (),
    failed_outputs: tuple[str, ...] = (),
) -> type[BoxConfigBase]:
    item: Any = _by_type(driver_configs, failed, DriverConfig, UnavailableDriverConfig, "Driver")
    output: Any = _by_type(
        output_configs, failed_outputs, OutputConfig, UnavailableOutputConfig, "Output"
    )
    outputs = create_model(
        "Outputs",
        __base__=Outputs,
        plugins=(list[output], Field(default_factory=list, description=_PLUGINS_DOC)),
    )
    sites: dict[str, Any] = {
        k.name: k.field() for k in site_kinds if k.name not in BoxConfigBase.model_fields
    }
    # A kind that failed to load keeps its settings valid (kept, reported, not run), like a
    # driver that failed to import: the rest of the box must still start.
    sites.update({n: _unavailable(n) for n in failed_kinds if n not in BoxConfigBase.model_fields})
    return create_model(
        "BoxConfig",
        __base__=BoxConfigBase,
        drivers=(list[item], Field(default_factory=list)),
        outputs=(outputs, Field(default_factory=outputs)),
        channels=(list[_channel_model(channel_kinds, failed_kinds)], Field(default_factory=list)),  # type: ignore[arg-type, misc]
        **sites,
    )


_PLUGINS_DOC = Outputs.model_fields["plugins"].description


def _by_type(
    models: tuple[type[StrictModel], ...],
    failed: tuple[str, ...],
    base: type[StrictModel],
    unavailable: type[StrictModel],
    what: str,
) -> Any:
    """One list item discriminated by ``type``: a variant per loaded model, and one for the
    types that failed to import (their settings are kept, reported and not run)."""
    variants: list[Any] = list(models)
    if failed:
        variants.append(
            create_model(
                f"Unavailable{what}",
                __base__=unavailable,
                type=(Literal[failed], ...),  # type: ignore[valid-type, arg-type]
            )
        )
    if not variants:
        return base
    if len(variants) == 1:
        return variants[0]
    return Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007


def _unavailable(name: str) -> tuple[object, Any]:
    reason = f"rule kind {name!r} failed to load: these settings are kept but not run"
    return UnavailableRuleSettings, Field(default=None, description=reason)


UnavailableRuleSettings = dict[str, object] | list[dict[str, object]] | None


def _channel_model(
    kinds: tuple[ChannelKind, ...], failed_kinds: tuple[str, ...] = ()
) -> type[ChannelConfig]:
    """``ChannelConfig`` whose ``alarms`` table has one key per channel kind that has one, and
    the kinds' checks against the rest of the channel (e.g. a deadband in % needs a range)."""
    fields: dict[str, Any] = {k.name: f for k in kinds if (f := k.field()) is not None}
    fields.update({n: _unavailable(n) for n in failed_kinds if n not in ChannelAlarms.model_fields})
    alarms = create_model("ChannelAlarms", __base__=ChannelAlarms, **fields)

    def kind_checks(channel: ChannelConfig) -> ChannelConfig:
        for kind in kinds:
            problem = kind.check_channel(channel)
            if problem:
                raise ValueError(problem)
        return channel

    return create_model(
        "ChannelConfig",
        __base__=ChannelConfig,
        __validators__={"_kind_checks": model_validator(mode="after")(kind_checks)},  # type: ignore[dict-item]
        alarms=(alarms, Field(default_factory=alarms)),
    )
