"""The alarm engine: rules -> alarms -> events and annunciation.

It runs on the pipeline thread only (commands from buttons, the API and the CLI are queued onto
that thread), so it needs no locks. Time comes from an injected clock, so tests can cover hours
in milliseconds. Other threads read ``views`` and ``annunciation``, which are replaced whole.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from box.alarms import journal
from box.alarms.alarm import Alarm, AlarmCommandError, AlarmSpec, State, Transition
from box.alarms.annunciation import LAMP_TEST, Annunciation, annunciate
from box.alarms.config import AlarmsConfig
from box.alarms.kinds import RuleKinds, default_rule_kinds
from box.alarms.kinds.base import ChannelContext, SiteContext, SiteRule
from box.alarms.rules import ChannelRules
from box.alarms.schedule import active_profile
from box.core.levels import COLOURS, Level
from box.core.records import Event, Reading

log = logging.getLogger(__name__)

PROFILE_CHECK_S = 1.0


class OutputSink(Protocol):
    def apply(
        self, annunciation: Annunciation, alarms: Sequence[Mapping[str, object]] = ()
    ) -> None: ...


class AlarmEngine:
    def __init__(
        self,
        config: AlarmsConfig,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.time,
        saved_state: dict[str, str] | None = None,
        persist: Callable[[str, str | None], None] | None = None,
        outputs: OutputSink | None = None,
        kinds: RuleKinds | None = None,
    ) -> None:
        self.kinds = kinds or default_rule_kinds()
        self.emit = emit
        self.clock = clock
        self.persist = persist or (lambda key, value: None)
        self.outputs = outputs
        self.silenced_until: float | None = None
        self.lamp_test_until: float | None = None
        self.first_out_id: str | None = None
        self.profile: str | None = None
        self._next_profile_check = 0.0
        self._raised: deque[float] = deque()
        self._flood_total = 0
        self.externals: dict[str, Alarm] = {}
        self.annunciation: Annunciation | None = None  # the first refresh always drives outputs
        self.views: list[dict[str, Any]] = []
        self.live: dict[str, Reading] = {}  # last reading per channel, kept by the pipeline
        self._build(config, saved_state or {})
        self._refresh()

    # -- configuration ---------------------------------------------------------------------

    def _build(self, config: AlarmsConfig, saved: dict[str, str]) -> None:
        now = self.clock()
        self.config = config
        ctx = ChannelContext(now, self.persist, saved)
        self.rules = {c.id: ChannelRules(c, ctx, self.kinds.channel) for c in config.channels}
        self.overrides = {k: v for k, v in saved.items() if k.startswith("threshold.")}
        for key, value in self.overrides.items():  # thresholds changed by command
            channel, _, level = key.removeprefix("threshold.").rpartition(":")
            th = self.rules[channel].thresholds if channel in self.rules else None
            if th is not None and level in th.base:
                th.base[level] = float(value)
                th.set_points(None)
        self.alarms: dict[str, Alarm] = {
            a.spec.id: a for r in self.rules.values() for a in r.alarms()
        }
        self._saved = saved
        previous = getattr(self, "site_rules", [])
        site = SiteContext(dict(self.alarms), self.live, self._register, saved, self.emit, previous)
        self._site_alarms: list[Alarm] = []
        self.site_rules: list[SiteRule] = [
            rule for kind in self.kinds.site for rule in kind.build(kind.items(config), site)
        ]
        self._site_alarms += [a for rule in self.site_rules for a in rule.alarms]
        self._record_rules = {
            t: [r for r in self.site_rules if t in r.record_types]
            for t in {t for r in self.site_rules for t in r.record_types}
        }
        self._ticking = [r for r in self.site_rules if type(r).tick is not SiteRule.tick]
        self.alarms.update({alarm.spec.id: alarm for alarm in self._site_alarms})
        self.alarms.update(self.externals)
        for alarm_id, alarm in self.alarms.items():
            text = saved.get(f"alarm.{alarm_id}")
            if text:
                try:
                    alarm.restore(json.loads(text), now)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("cannot restore alarm %s (%s): starting it as normal", alarm_id, exc)
        self._notable: dict[str, Alarm] = {}
        for alarm in self.alarms.values():
            self._track(alarm)
        self._delayed = [a for a in self.alarms.values() if a.spec.on_delay_s > 0]
        self.profile = None
        self._next_profile_check = 0.0

    def reconfigure(self, config: AlarmsConfig) -> None:
        """New rules; alarms that still exist keep their state (an alarm never clears by edit)."""
        saved = {f"alarm.{i}": json.dumps(a.persisted()) for i, a in self.alarms.items()}
        saved.update(self.overrides)
        for rules in self.rules.values():
            saved.update(rules.saved_state())
        self._build(config, saved)
        self.tick()

    # -- inputs ----------------------------------------------------------------------------------

    def process(self, batch: Sequence[Reading]) -> None:
        now = self.clock()
        rules = self.rules
        out: list[Transition] = []
        for r in batch:
            ch = rules.get(r.channel)
            if ch is not None:
                ch.on_reading(r, now, out)
        if out:
            self._handle(out, now)

    def external(
        self,
        key: str,
        active: bool,
        level: int,
        name: str = "",
        latching: bool = True,
        source: str = "",
        kind: str = "alarm",
        **detail: Any,
    ) -> None:
        """A condition from outside the readings (SOS, geofence, vision; or the box's own
        equipment, as ``kind="fault"``) entering the engine."""
        alarm_id = f"ext:{key}"
        alarm = self.externals.get(alarm_id)
        if alarm is None:
            spec = AlarmSpec(alarm_id, source or alarm_id, name or key, level, latching, kind)
            alarm = Alarm(spec)
            self.externals[alarm_id] = self.alarms[alarm_id] = alarm
        now = self.clock()
        self._handle(alarm.observe(active, now, **detail), now)

    def process_records(self, records: Sequence[Any]) -> None:
        """Records other than readings (positions, ...) for the site rules that take them."""
        rules = self._record_rules.get(type(records[0])) if records else None
        if not rules:
            return
        now = self.clock()
        out: list[Transition] = []
        for rule in rules:
            out += rule.on_records(records, now)
        if out:
            self._handle(out, now)

    def site_command(self, kind: str, action: str, args: Mapping[str, Any]) -> Any:
        """A command for the site rules of one kind (the first that has it answers)."""
        rules = [r for r in self.site_rules if getattr(r, "kind_name", "") == kind]
        if not rules:
            raise AlarmCommandError(f"no {kind!r} rules are configured")
        now = self.clock()
        result, out = rules[0].command(action, args, now)
        if out:
            self._handle(list(out), now)
        return result

    def _register(self, alarm: Alarm) -> None:
        """An alarm a site rule created while running: known to commands, ticked, restored."""
        alarm_id = alarm.spec.id
        if alarm_id in self.alarms:
            return
        self.alarms[alarm_id] = alarm
        self._site_alarms.append(alarm)
        text = self._saved.get(f"alarm.{alarm_id}")
        if text:
            try:
                alarm.restore(json.loads(text), self.clock())
            except (ValueError, KeyError, TypeError) as exc:
                log.error("cannot restore alarm %s (%s): starting it as normal", alarm_id, exc)
            self._track(alarm)

    def tick(self) -> None:
        """Timers: delays, offline channels, sustained durations, expiries, profiles, floods."""
        now = self.clock()
        out: list[Transition] = []
        for rule in self._ticking:
            out += rule.tick(now)
        escalated: list[tuple[str, float]] = []
        for ch in self.rules.values():
            out += ch.tick(now)
            if ch.fault.escalation_due(now):
                offline_s = round(now - ch.fault.last_good, 1)
                escalated.append((ch.channel.id, offline_s))
                self._event(
                    "maintenance_escalation",
                    ch.channel.id,
                    now,
                    Level.LEVEL_3,
                    channel=ch.channel.id,
                    offline_s=offline_s,
                    upstream=True,
                )
        for alarm in self._site_alarms:
            out += alarm.tick(now)
        for alarm in self.externals.values():
            out += alarm.tick(now)
        changed = self._expire(now)
        if now >= self._next_profile_check:
            self._next_profile_check = now + PROFILE_CHECK_S
            self._check_profile(now)
        if out:
            self._handle(out, now)
        elif changed:
            self._refresh()
        for channel, offline_s in escalated:
            journal.log_escalation(channel, offline_s)

    # -- operator commands (all on the pipeline thread) --------------------------------------

    def _alarm(self, alarm_id: str) -> Alarm:
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            raise AlarmCommandError(f"no alarm {alarm_id!r} (see: safetybox alarms list)")
        return alarm

    def ack(self, alarm_id: str, who: str, note: str = "") -> dict[str, Any]:
        now = self.clock()
        self._handle(self._alarm(alarm_id).ack(who, now, note), now)
        return self._alarm(alarm_id).view()

    def ack_all(self, who: str) -> int:
        now = self.clock()
        out = [
            t
            for a in self.alarms.values()
            if a.state in (State.ACTIVE_UNACK, State.CLEARED_UNACK)
            for t in a.ack(who, now)
        ]
        self._handle(out, now)
        return len(out)

    def reset(self, alarm_id: str, who: str) -> dict[str, Any]:
        now = self.clock()
        self._handle(self._alarm(alarm_id).reset(who, now), now)
        return self._alarm(alarm_id).view()

    def reset_all(self, who: str) -> int:
        now = self.clock()
        out = [
            t
            for a in self.alarms.values()
            if a.state in (State.CLEARED_UNACK, State.LATCHED) and not a.effective
            for t in a.reset(who, now)
        ]
        self._handle(out, now)
        return len(out)

    def shelve(self, alarm_id: str, who: str, duration_s: float, reason: str) -> dict[str, Any]:
        limit = self.config.alarms.max_shelve_s
        if duration_s > limit:
            raise AlarmCommandError(
                f"shelving for {duration_s:.0f} s exceeds the {limit:.0f} s limit"
            )
        now = self.clock()
        self._handle(self._alarm(alarm_id).shelve(who, now, duration_s, reason), now)
        return self._alarm(alarm_id).view()

    def unshelve(self, alarm_id: str, who: str) -> dict[str, Any]:
        now = self.clock()
        self._handle(self._alarm(alarm_id).unshelve(who, now), now)
        return self._alarm(alarm_id).view()

    def set_threshold(self, channel: str, level: str, at: float, who: str) -> dict[str, Any]:
        """Change one threshold level (kept in the store across restarts) and audit it."""
        rules = self.rules.get(channel)
        th = rules.thresholds if rules else None
        if th is None or level not in th.base:
            raise AlarmCommandError(f"channel {channel!r} has no threshold level {level!r}")
        problem = th.order_problem({level: at})
        if problem:
            raise AlarmCommandError(f"levels would no longer be strictly ordered: {problem}")
        previous = th.base[level]
        th.base[level] = at
        th.set_points(None if self.profile is None else self._profile_points(channel))
        self.persist(f"threshold.{channel}:{level}", repr(at))
        self.overrides[f"threshold.{channel}:{level}"] = repr(at)
        now = self.clock()
        self._event("threshold_changed", channel, now, Level.INFO, channel=channel, level=level,
                    previous=previous, at=at, who=who)  # fmt: skip
        return {"channel": channel, "level": level, "previous": previous, "at": at}

    def _profile_points(self, channel: str) -> dict[str, float] | None:
        p = next((p for p in self.config.profiles if p.name == self.profile), None)
        return p.setpoints.get(channel) if p else None

    def silence(self, who: str, seconds: float | None = None) -> float:
        """Mute the buzzer for N s; it sounds again after that, or at once on a new alarm."""
        now = self.clock()
        seconds = seconds or self.config.alarms.silence_s
        self.silenced_until = now + seconds
        self._event("alarm_silenced", "operator", now, Level.INFO, who=who, seconds=seconds)
        self._refresh()
        journal.log_silenced(who, seconds)
        return self.silenced_until

    def lamp_test(self, who: str, seconds: float = 5.0) -> None:
        now = self.clock()
        self.lamp_test_until = now + seconds
        self._event("lamp_test", "operator", now, Level.INFO, who=who, seconds=seconds)
        self._refresh()

    # -- internals ----------------------------------------------------------------------

    def _expire(self, now: float) -> bool:
        changed = False
        if self.silenced_until is not None and now >= self.silenced_until:
            self.silenced_until, changed = None, True
        if self.lamp_test_until is not None and now >= self.lamp_test_until:
            self.lamp_test_until, changed = None, True
        if self._flood_total and not self._recent_raises(now):
            self._event("alarm_flood_end", "engine", now, Level.INFO, total=self._flood_total)
            self._flood_total = 0
        return changed

    def _recent_raises(self, now: float) -> int:
        window = self.config.alarms.flood_window_s
        while self._raised and self._raised[0] < now - window:
            self._raised.popleft()
        return len(self._raised)

    def _check_profile(self, now: float) -> None:
        if not self.config.profiles and self.profile is None:
            return
        profile = active_profile(self.config.profiles, datetime.fromtimestamp(now))
        name = profile.name if profile else None
        if name == self.profile:
            return
        for channel_id, ch in self.rules.items():
            if ch.thresholds:
                ch.thresholds.set_points(profile.setpoints.get(channel_id) if profile else None)
        self._event(
            "profile_changed", "engine", now, Level.INFO, previous=self.profile, profile=name
        )
        self.profile = name

    def _site(self, now: float) -> list[Transition]:
        out: list[Transition] = []
        for rule in self.site_rules:
            out += rule.evaluate(now)
        return out

    def _handle(self, transitions: list[Transition], now: float) -> None:
        if self.site_rules:  # votes and the like follow the alarms that just changed
            transitions = transitions + self._site(now)
        for t in transitions:
            self._record(t, now)
        for alarm_id in {t.alarm.spec.id for t in transitions}:
            self.persist(f"alarm.{alarm_id}", json.dumps(self.alarms[alarm_id].persisted()))
        self._refresh()
        journal.log_transitions(transitions)  # after the pins: a slow log never delays them

    def _record(self, t: Transition, now: float) -> None:
        alarm = t.alarm
        if t.kind == "alarm_raised":
            self.silenced_until = None  # silence re-arms when a new alarm arrives (GB 16808)
            alarm.first_out = not any(
                a is not alarm and a.state != State.NORMAL for a in self._notable.values()
            )
            if alarm.first_out:
                self.first_out_id = alarm.spec.id
            self._raised.append(now)
            count = self._recent_raises(now)
            if self._flood_total:
                self._flood_total += 1
            elif count >= self.config.alarms.flood_count:
                self._flood_total = count
                self._event(
                    "alarm_flood",
                    "engine",
                    now,
                    Level.LEVEL_2,
                    count=count,
                    window_s=self.config.alarms.flood_window_s,
                    first_out=self.first_out_id,
                )
        s = alarm.spec
        self._event(
            t.kind,
            s.source,
            now,
            s.level if t.kind == "alarm_raised" else Level.INFO,
            alarm=s.id,
            name=s.name,
            kind=s.kind,
            level=s.level,
            colour=COLOURS[s.level],
            state_from=str(t.from_state),
            state=str(alarm.state),
            value=alarm.value,
            first_out=alarm.first_out,
            first_out_id=self.first_out_id,
            **t.details,
            **({"detail": alarm.detail} if alarm.detail else {}),
        )
        self._track(alarm)
        if all(a.state == State.NORMAL for a in self._notable.values()):
            self.first_out_id = None

    def _track(self, alarm: Alarm) -> None:
        """Keep the (usually small) set of alarms that are not normal or are shelved, so that
        first-out, views and annunciation never scan every configured alarm."""
        if alarm.state != State.NORMAL or alarm.shelved is not None:
            self._notable[alarm.spec.id] = alarm
        else:
            self._notable.pop(alarm.spec.id, None)

    def _event(self, kind: str, source: str, now: float, level: int, /, **details: Any) -> None:
        self.emit(Event(kind, source, int(now * 1000), level, details))

    def _refresh(self) -> None:
        now = self.clock()
        if self.lamp_test_until is not None and now < self.lamp_test_until:
            ann = LAMP_TEST
        else:
            silenced = self.silenced_until is not None and now < self.silenced_until
            ann = annunciate(self._notable.values(), self.config.outputs.relays, silenced)
        pending = [a for a in self._delayed if a.pending and a.spec.id not in self._notable]
        self.views = [a.view() for a in (*self._notable.values(), *pending)]
        if ann != self.annunciation or self.annunciation is None:
            self.annunciation = ann
            if self.outputs is not None:  # given the alarms too, e.g. for a dialler's message
                self.outputs.apply(ann, self.views)
