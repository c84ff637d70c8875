"""What a rule kind is: a config key, a pydantic model, and how to build its rules.

Two scopes. A *channel kind* is configured under ``[channels.alarms.<name>]`` and built once
per channel; its rules see that channel's good values and the passing of time, and own alarms
with ids ``CHANNEL:NAME``. A *site kind* is configured as a top-level list ``[[<name>]]``; its
rules see the engine's alarms through a :class:`SiteContext` and own alarms whose source is
``<prefix>:<id>``. Rules never change alarm states themselves: they call ``Alarm.observe`` and
return the transitions, so delays, latching and shelving work the same for every kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from box.alarms.alarm import Alarm, AlarmSpec, Transition
from box.alarms.config import AlarmsConfig, ChannelConfig
from box.core.errors import CommandRefused
from box.core.records import Event, Reading

Persist = Callable[[str, str | None], None]
M = TypeVar("M", bound=BaseModel)
PathElem = str | int


@dataclass(frozen=True)
class RuleIssue:
    """A cross-field problem a kind found in the whole config (the loader adds the line)."""

    path: tuple[PathElem, ...]
    value: object
    reason: str


@dataclass
class ChannelContext:
    """What a channel rule may use besides its config: the time it was built, and a small
    key-value store that survives restarts (e.g. when a sustained condition began)."""

    now: float
    persist: Persist = lambda key, value: None
    saved: Mapping[str, str] = field(default_factory=dict)


@dataclass
class SiteContext:
    """What a site rule sees of the engine: every channel alarm by id; the last reading per
        channel (updated in place by the pipeline); ``register`` to add an alarm the rule creates
        while running (one per person and zone, say: ids must be stable, the engine restores a
        saved state under the same id); the saved state (to recreate, at build, the alarms that
        were not normal before a restart or reload); and ``emit`` for events that are not alarm
        transitions (a zone entered, a muster report); and the site rules a reload replaces, whose
    live state (who is where) a kind may carry over."""

    alarms: Mapping[str, Alarm]
    live: Mapping[str, Reading] = field(default_factory=dict)
    register: Callable[[Alarm], None] = lambda alarm: None
    saved: Mapping[str, str] = field(default_factory=dict)
    emit: Callable[[Event], None] = lambda event: None
    previous: Sequence[SiteRule] = ()  # the rules before a reload, to carry live state over


class ChannelRule:
    """One rule on one channel. Override only what the rule needs: the engine dispatches to
    ``on_value`` and ``tick`` only for rules that override them (the reading path stays short)."""

    alarms: Sequence[Alarm] = ()

    def on_value(self, v: float, ts: float, now: float) -> Sequence[Transition]:
        """A good value (``ts``: the reading's time, ``now``: the engine's clock)."""
        return ()

    def tick(self, now: float) -> Sequence[Transition]:
        """Time passed without a reading (alarm delays and expiries are ticked by the engine)."""
        return ()

    def saved_state(self) -> dict[str, str]:
        """State to carry over a reconfigure (same keys as given to ``persist``)."""
        return {}


class SiteRule:
    """One rule over the engine's alarms, re-evaluated after any alarm changes. A rule that
    lists ``record_types`` also gets those records (positions, detections) as they arrive,
    and one that overrides ``tick`` gets the passing of time; ``command`` serves requests from
    the web, the CLI or the downlink (run on the core thread, like every command)."""

    alarms: Sequence[Alarm] = ()
    record_types: tuple[type, ...] = ()

    def evaluate(self, now: float) -> Sequence[Transition]:
        return ()

    def on_records(self, records: Sequence[Any], now: float) -> Sequence[Transition]:
        return ()

    def tick(self, now: float) -> Sequence[Transition]:
        return ()

    def command(
        self, action: str, args: Mapping[str, Any], now: float
    ) -> tuple[Any, Sequence[Transition]]:
        """(the answer, the transitions the command caused)."""
        raise CommandRefused(f"{type(self).__name__} has no command {action!r}")


class RuleKind(ABC, Generic[M]):
    """``name`` is the config key (and the entry-point name); ``model`` its config model."""

    name: str
    model: type[M] | None  # None: an always-on kind configured by the channel's own keys
    description: str = ""

    def check(self, config: AlarmsConfig) -> list[RuleIssue]:
        """Problems spanning sections (list items may be None: invalid on their own)."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class ChannelKind(RuleKind[M]):
    many: bool = False  # a list of tables ([[channels.alarms.NAME]]) or one table

    def field(self) -> tuple[object, FieldInfo] | None:
        """The field this kind adds to ``ChannelAlarms`` (None: always-on, no key of its own)."""
        if self.model is None:
            return None
        if self.many:
            return _list_field(self.model, self.description)
        return self.model | None, _field(default=None, description=self.description)

    def check_channel(self, channel: ChannelConfig) -> str | None:
        """A problem between this kind's settings and the rest of the channel, or None."""
        return None

    @abstractmethod
    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        """The rules for one channel (none when the channel does not configure this kind)."""

    def one(self, channel: ChannelConfig) -> M | None:
        value = getattr(channel.alarms, self.name, None)
        return value if self.model is not None and isinstance(value, self.model) else None

    def items(self, channel: ChannelConfig) -> list[M]:
        values = getattr(channel.alarms, self.name, None) or []
        return [v for v in values if self.model is not None and isinstance(v, self.model)]


class SiteKind(RuleKind[M]):
    prefix: str  # alarm source and id prefix: "<prefix>:<id>"

    def field(self) -> tuple[object, FieldInfo]:
        """The top-level list this kind adds to the box config."""
        assert self.model is not None  # noqa: S101 - a site kind always has a model
        return _list_field(self.model, self.description)

    def items(self, config: object) -> list[M]:
        values = getattr(config, self.name, None) or []
        return [v for v in values if self.model is not None and isinstance(v, self.model)]

    def sources(self, config: object) -> set[str]:
        """The alarm sources this kind provides, e.g. for relays' ``channels`` lists."""
        return {f"{self.prefix}:{getattr(item, 'id', '')}" for item in self.items(config)}

    @abstractmethod
    def build(self, items: Sequence[M], ctx: SiteContext) -> list[SiteRule]: ...


def _field(**kwargs: object) -> FieldInfo:
    info = Field(**kwargs)  # type: ignore[call-overload]
    assert isinstance(info, FieldInfo)  # noqa: S101 - pydantic types Field() as the default's type
    return info


def _list_field(model: type[BaseModel], description: str) -> tuple[object, FieldInfo]:
    return list[model], _field(default_factory=list, description=description)  # type: ignore[valid-type]


def channel_alarm(
    channel: ChannelConfig,
    name: str,
    level: int,
    latching: bool,
    kind: str = "alarm",
    on_delay_s: float = 0.0,
    off_delay_s: float = 0.0,
) -> Alarm:
    """An alarm of one channel, with the id ``CHANNEL:NAME`` used everywhere."""
    spec = AlarmSpec(
        f"{channel.id}:{name}",
        channel.id,
        name,
        level,
        latching,
        kind,
        on_delay_s,
        off_delay_s,
        channel.zone,
        channel.unit,
        channel.decimals,
    )
    return Alarm(spec)
