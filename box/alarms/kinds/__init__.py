"""The rule kinds: the built-in ones below, then those other packages register in the
``safetybox.rules`` entry-point group (see docs/ALARMS.md, "Writing a rule kind").

A kind that fails to import is reported by name (``RuleKinds.failed``) and the others run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from box.alarms.config import ChannelAlarms
from box.alarms.kinds.base import ChannelKind, RuleKind, SiteKind
from box.core import plugins

log = logging.getLogger(__name__)

# Evaluation order per channel; the order of the channel's alarms follows it too.
BUILTIN_KINDS = (
    "box.alarms.kinds.thresholds:KIND",
    "box.alarms.kinds.over_range:KIND",
    "box.alarms.kinds.fault:KIND",
    "box.alarms.kinds.sustained:KIND",
    "box.alarms.kinds.rate:KIND",
    "box.alarms.kinds.exposure:KIND",
    "box.alarms.kinds.votes:KIND",
    "box.people.kind:KIND",
    "vision.fusion:KIND",
)


@dataclass(frozen=True)
class RuleKinds:
    """The loaded kinds by scope, and the names that failed to load with why."""

    channel: tuple[ChannelKind, ...]
    site: tuple[SiteKind, ...]
    failed: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, kinds: list[RuleKind], failed: Mapping[str, str] | None = None) -> RuleKinds:
        return cls(
            tuple(k for k in kinds if isinstance(k, ChannelKind)),
            tuple(k for k in kinds if isinstance(k, SiteKind)),
            dict(failed or {}),
        )


def _is_a_kind(name: str, obj: object) -> str:
    return "" if isinstance(obj, RuleKind) else "is not a RuleKind"


def _is_kind_named(name: str, obj: object) -> str:
    if not isinstance(obj, ChannelKind | SiteKind):
        return "is not a ChannelKind or SiteKind instance"
    if obj.name != name:
        return f"entry point name {name!r} differs from the kind's name {obj.name!r}"
    if isinstance(obj, ChannelKind) and name in ChannelAlarms.model_fields:
        return f"{name!r} is a key of every channel's alarms"
    return ""


def load_rule_kinds(builtin_paths: tuple[str, ...] = BUILTIN_KINDS) -> RuleKinds:
    """The built-in kinds, then the installed plug-ins (which may not replace a built-in)."""
    builtins, failed = plugins.import_builtins(
        builtin_paths, lambda k: getattr(k, "name", ""), _is_a_kind
    )
    loaded: plugins.Loaded[RuleKind] = plugins.load(plugins.RULES, _is_kind_named, builtins)
    failed.update(loaded.failed)
    return RuleKinds.of(list(loaded.items.values()), failed)


_default: RuleKinds | None = None


def default_rule_kinds() -> RuleKinds:
    """The rule kinds of this process, loaded once (like the driver registry)."""
    global _default
    if _default is None:
        _default = load_rule_kinds()
    return _default
