"""The positioning rule of one site plan: where every tag is, and what that means.

Runs on the core thread like every rule. Each batch of positions is tested against the zones
at once (box/people/geometry.py), then each tag's fences are updated with hysteresis: a zone
is entered when the tag is inside it (signed distance >= 0) and left only when it is
``margin_m`` outside, and either change counts only after it held for ``min_dwell_s``, so a
worker standing on a fence line does not flap. Timing (overstay, man-down, key posts) rides
on the alarms' ON delays, ticked by the engine; lost tags and exposure are checked once a
second. Alarms are created on first need and registered with the engine (stable ids, so a
restart restores their state); the ones that were not normal are recreated at build.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from box.alarms.alarm import Alarm, State, Transition
from box.alarms.kinds.base import SiteContext, SiteRule
from box.core.errors import CommandRefused
from box.core.levels import Level
from box.core.records import Event, Position, Quality
from box.people.alarms import NAMES, AlarmId
from box.people.config import GasExposure, Person, Positioning, Zone
from box.people.exposure import WorkerExposure
from box.people.geometry import ZoneIndex
from box.people.live import FEED
from box.people.muster import MusterRoll

SLOW_TICK_S = 1.0
BATTERY_HYSTERESIS = 5.0


@dataclass(slots=True)
class TagState:
    tag: str
    person: Person
    x: float = math.nan
    y: float = math.nan
    z: float = 0.0
    ts_ms: int = 0
    seen: float = 0.0  # engine clock of the last update
    battery: float | None = None
    sos: bool = False
    inside: dict[int, float] = field(default_factory=dict)  # zone -> entered at (engine clock)
    near: set[int] = field(default_factory=set)  # danger zones within their approach distance
    pending: dict[tuple[bool, int], float] = field(default_factory=dict)  # (near?, zone) -> since
    anchor: tuple[float, float] | None = None  # man-down: where the wearer last moved to
    lost: bool = False
    low_battery: bool = False
    track: deque[tuple[int, float, float]] = field(default_factory=deque)
    man_down: tuple[Alarm, Alarm] | None = None  # (pre-alarm, alarm), made at the first update


class PeopleRule(SiteRule):
    kind_name = "positioning"
    record_types = (Position,)

    def __init__(
        self,
        plan: Positioning,
        ctx: SiteContext,
        relays_of: Mapping[str, str],
        previous: PeopleRule | None = None,
    ) -> None:
        self.plan = plan
        self.ctx = ctx
        self.index = ZoneIndex(plan.zones, plan.margin_m)
        self.zones = plan.zones
        self.zone_no = {z.id: i for i, z in enumerate(plan.zones)}
        self.people = {p.tag: p for p in plan.people}
        self.tags: dict[str, TagState] = {}
        self.unknown_refused = 0
        self.out_of_order = 0
        self.bad_positions = 0
        self.counts: list[set[str]] = [set() for _ in plan.zones]
        self.by_id: dict[str, Alarm] = {}
        self.muster: MusterRoll | None = None
        self.last_report: dict[str, Any] | None = None
        self.exposures: dict[tuple[str, str], WorkerExposure] = {}
        self._gas_zones = self._gases_by_zone(plan.exposure)
        self._pending_tags: set[str] = set()
        self._next_slow = 0.0
        self._l1 = [a for a in ctx.alarms.values() if a.spec.level == Level.LEVEL_1]
        self.relays_of = relays_of
        self._approach = [z.approach_m for z in plan.zones]
        self.alarms = self._static_alarms() + self._recreate_saved()
        self._previous = previous  # taken over at the first tick, after the engine restored

    def _adopt(self, old: PeopleRule, now: float) -> list[Transition]:
        """A reload keeps who is where, a running muster and the exposure so far. Zones are
        matched by id; a zone change that was waiting out its dwell starts again, and so does
        the man-down timer (from the next update). Overstay timers keep their entry times."""
        out: list[Transition] = []
        for tag, o in old.tags.items():
            st = self._state(tag)
            if st is None:
                continue
            st.x, st.y, st.z, st.ts_ms, st.seen = o.x, o.y, o.z, o.ts_ms, o.seen
            st.battery, st.sos, st.lost, st.low_battery = o.battery, o.sos, o.lost, o.low_battery
            st.track = o.track
            for z, entered in o.inside.items():
                zid = old.zones[z].id
                if zid in self.zone_no:
                    n = self.zone_no[zid]
                    st.inside[n] = entered
                    self.counts[n].add(tag)
                    zone = self.zones[n]
                    if zone.max_stay_s is not None:
                        out += self._alarm(st, "overstay", zid).observe(True, entered)
            st.near = {self.zone_no[old.zones[z].id] for z in o.near
                       if old.zones[z].id in self.zone_no}  # fmt: skip
        for z in range(len(self.zones)):
            out += self._zone_rules(z, now)
        self.muster, self.last_report = old.muster, old.last_report
        self.exposures = {k: v for k, v in old.exposures.items() if k[0] in self.tags}
        self._started = True
        return out

    # -- alarms ---------------------------------------------------------------------------

    def _static_alarms(self) -> list[Alarm]:
        """Zone alarms exist from the start (their ON delays need ticking)."""
        out = []
        for z in self.zones:
            if z.max_people is not None:
                out.append(self._zone_alarm(z, "headcount"))
            if z.key_post_s is not None:
                out.append(self._zone_alarm(z, "unattended"))
            if z.type == "confined_space" and z.attendant_zone:
                out.append(self._zone_alarm(z, "no_attendant"))
        return out

    _now = 0.0
    _started = False

    def _recreate_saved(self) -> list[Alarm]:
        """The person alarms that were not normal (before a restart or reload) exist again at
        once, so the engine restores them: a latched SOS never disappears with a reload."""
        out = []
        for key, text in self.ctx.saved.items():
            aid = AlarmId.parse(key.removeprefix("alarm."))
            if aid is None or aid.scope != "person" or '"state": "normal"' in text:
                continue
            if aid.id in self.by_id:
                continue
            person = self.people.get(aid.key) or Person(tag=aid.key, name=f"tag {aid.key}")
            out.append(self._make(aid, person))
        return out

    def _zone_alarm(self, z: Zone, what: str) -> Alarm:
        aid = AlarmId("zone", z.id, what)
        delay = (z.key_post_s or 0.0) if what == "unattended" else 0.0
        spec = aid.spec(NAMES[what].format(zone=z.name or z.id), z.level, z.id, delay)
        alarm = Alarm(spec)
        self.by_id[aid.id] = alarm
        return alarm

    def _make(self, aid: AlarmId, person: Person) -> Alarm:
        zone = self.zones[self.zone_no[aid.arg]] if aid.arg in self.zone_no else None
        zname = (zone.name or zone.id) if zone else aid.arg
        name = NAMES[aid.what].format(person=person.name, zone=zname, gas=aid.arg)
        level: int | None = None
        delay = 0.0
        latching = None
        if zone is not None:
            level = zone.level
            latching = zone.latching or None
            if aid.what == "overstay" and zone.max_stay_s:
                delay = zone.max_stay_s
        md = self.plan.man_down
        if aid.what == "man_down":
            delay = md.alarm_s
        elif aid.what == "man_down_pre":
            delay = md.pre_alarm_s
        elif aid.what in ("stel", "twa"):
            gas = next((g for g in self.plan.exposure if g.gas == aid.arg), None)
            level = gas.level if gas else None
        alarm = Alarm(aid.spec(name, level, zone.id if zone else "", delay, latching))
        self.by_id[aid.id] = alarm
        return alarm

    def _alarm(self, st: TagState, what: str, arg: str = "") -> Alarm:
        aid = AlarmId("person", st.tag, what, arg)
        alarm = self.by_id.get(aid.id)
        if alarm is None:
            alarm = self._make(aid, st.person)
            self.ctx.register(alarm)
        return alarm

    def _detail(self, st: TagState, zone: int | None = None, **extra: Any) -> dict[str, Any]:
        p = st.person
        zones = [zone] if zone is not None else list(st.inside)
        cameras = sorted({c for i in zones for c in self.zones[i].cameras}) if zones else []
        d: dict[str, Any] = {
            "tag": st.tag,
            "person": p.name,
            "role": p.role,
            "badge": p.badge,
            "team": p.team,
            "x": round(st.x, 2),
            "y": round(st.y, 2),
            "zones": [self.zones[i].id for i in st.inside],
        }
        if zone is not None:
            d["zone"] = self.zones[zone].id
        if cameras:
            d["cameras"] = cameras
        d.update(extra)
        return d

    # -- positions ----------------------------------------------------------------------

    def on_records(self, records: Sequence[Any], now: float) -> list[Transition]:
        self._now = now
        out: list[Transition] = []
        states: list[TagState] = []
        good: list[Position] = []
        for p in records:
            st = self._state(p.tag)
            if st is None:
                continue
            if p.ts_ms < st.ts_ms:  # an older fix arriving late (a gateway's backlog): never
                self.out_of_order += 1  # move a worker back in time
                continue
            if not (math.isfinite(p.x) and math.isfinite(p.y)):
                self.bad_positions += 1  # a plug-in driver's bug: keep the tag alive, no move
                p = replace(p, quality=Quality.BAD)
            st.seen, st.ts_ms = now, p.ts_ms
            if st.lost:
                st.lost = False
                out += self._alarm(st, "lost").observe(False, now)
            if p.sos != st.sos or p.sos:
                st.sos = p.sos
                if p.sos:
                    st.x, st.y = p.x, p.y
                out += self._alarm(st, "sos").observe(p.sos, now, **self._detail(st))
            if p.battery is not None:
                out += self._battery(st, p.battery, now)
            if p.quality < Quality.BAD:
                states.append(st)
                good.append(p)
        if good:
            xs = np.fromiter((p.x for p in good), float, len(good))
            ys = np.fromiter((p.y for p in good), float, len(good))
            pi, zi, sd = self.index.signed(xs, ys)
            near: list[dict[int, float]] = [{} for _ in good]
            for i, z, d in zip(pi.tolist(), zi.tolist(), sd.tolist(), strict=True):
                near[i][z] = d
            for st, p, cand in zip(states, good, near, strict=True):
                out += self._move(st, p, cand, now)
            if FEED.active:
                for st in states:
                    FEED.note(
                        st.tag,
                        {
                            "name": st.person.name,
                            "x": round(st.x, 2),
                            "y": round(st.y, 2),
                            "ts_ms": st.ts_ms,
                            "zones": [self.zones[z].id for z in st.inside],
                        },
                    )
        return out

    def _state(self, tag: str) -> TagState | None:
        st = self.tags.get(tag)
        if st is not None:
            return st
        person = self.people.get(tag)
        if person is None:
            unknown = len(self.tags) - sum(1 for t in self.tags if t in self.people)
            if not self.plan.unknown_tags or unknown >= self.plan.max_unknown_tags:
                self.unknown_refused += 1
                return None
            person = Person(tag=tag, name=f"unknown tag {tag}")
        st = self.tags[tag] = TagState(tag, person)
        return st

    def _move(
        self, st: TagState, p: Position, cand: dict[int, float], now: float
    ) -> list[Transition]:
        out: list[Transition] = []
        st.x, st.y, st.z = p.x, p.y, p.z
        window = self.plan.track_window_s
        if window:
            track = st.track
            track.append((p.ts_ms, p.x, p.y))
            cut = p.ts_ms - window * 1000
            while track[0][0] < cut:
                track.popleft()
        if not (cand or st.inside or st.near or st.pending):  # in no zone's reach: no fence
            return self._man_down(st, now) if self.plan.man_down.enabled else out
        margin = self.plan.margin_m
        dwell = self.plan.min_dwell_s
        inside, near, pending = st.inside, st.near, st.pending
        approach = self._approach
        for z, s in cand.items():
            state = z in inside
            want = s > -margin if state else s >= 0
            if want != state or (pending and (False, z) in pending):
                out += self._hold(st, False, z, state, want, dwell, now)
            reach = approach[z]
            if reach:
                state = z in near
                want = s > -(reach + margin) if state else s >= -reach
                if want != state or (pending and (True, z) in pending):
                    out += self._hold(st, True, z, state, want, dwell, now)
        # Zones the tag was in (or near, or about to change) that are now out of reach.
        gone = [(False, z) for z in inside if z not in cand]
        gone += [(True, z) for z in near if z not in cand]
        gone += [k for k in pending if k[1] not in cand and k not in gone]
        for key in gone:
            near_key, z = key
            state = z in (near if near_key else inside)
            out += self._hold(st, near_key, z, state, False, dwell, now)
        out += self._man_down(st, now)
        return out

    def _hold(
        self, st: TagState, near: bool, z: int, state: bool, want: bool, dwell: float, now: float
    ) -> list[Transition]:
        key = (near, z)
        if want == state:
            if key in st.pending:
                del st.pending[key]
            return []
        since = st.pending.get(key)
        if since is None:
            if dwell > 0:
                st.pending[key] = now
                self._pending_tags.add(st.tag)
                return []
            since = now
        if now - since < dwell:
            return []
        st.pending.pop(key, None)
        return self._near(st, z, want, now) if near else self._cross(st, z, want, now)

    def _cross(self, st: TagState, z: int, entered: bool, now: float) -> list[Transition]:
        zone = self.zones[z]
        out: list[Transition] = []
        if entered:
            st.inside[z] = now
            self.counts[z].add(st.tag)
        else:
            st.inside.pop(z, None)
            self.counts[z].discard(st.tag)
        self.ctx.emit(
            Event(
                "zone_entered" if entered else "zone_left",
                f"person:{st.tag}",
                int(now * 1000),
                Level.INFO,
                self._detail(st, z),
            )
        )
        if zone.restricted and not self._authorised(st.person, zone):
            out += self._alarm(st, "unauthorised", zone.id).observe(
                entered, now, **self._detail(st, z)
            )
        if zone.max_stay_s is not None:
            out += self._alarm(st, "overstay", zone.id).observe(
                entered, now, **self._detail(st, z, max_stay_s=zone.max_stay_s)
            )
        out += self._zone_rules(z, now)
        if zone.type == "muster_point" and entered and self.muster is not None:
            out += self._accounted(st, zone, now)
        for other, oz in enumerate(self.zones):  # attendants stand in another zone
            if oz.attendant_zone == zone.id:
                out += self._zone_rules(other, now)
        return out

    def _near(self, st: TagState, z: int, near: bool, now: float) -> list[Transition]:
        zone = self.zones[z]
        if near:
            st.near.add(z)
        else:
            st.near.discard(z)
        if self._authorised(st.person, zone):
            return []
        d = self.index.distance(z, st.x, st.y)
        return self._alarm(st, "approach", zone.id).observe(
            near, now, **self._detail(st, z, distance_m=round(-d, 2))
        )

    def _zone_rules(self, z: int, now: float) -> list[Transition]:
        zone = self.zones[z]
        people = self.counts[z]
        out: list[Transition] = []
        detail: dict[str, Any] = {
            "zone": zone.id,
            "count": len(people),
            "people": sorted(self.tags[t].person.name for t in people),
        }
        if zone.max_people is not None:
            out += self.by_id[f"zone:{zone.id}:headcount"].observe(
                len(people) > zone.max_people,
                now,
                float(len(people)),
                **detail,
                max_people=zone.max_people,
            )
        if zone.key_post_s is not None:
            roles = zone.post_roles
            posted = [t for t in people if not roles or self.tags[t].person.role in roles]
            out += self.by_id[f"zone:{zone.id}:unattended"].observe(not posted, now, **detail)
        if zone.type == "confined_space" and zone.attendant_zone:
            az = self.zone_no[zone.attendant_zone]
            roles = zone.attendant_roles
            attendants = [t for t in self.counts[az] if self.tags[t].person.role in roles]
            out += self.by_id[f"zone:{zone.id}:no_attendant"].observe(
                bool(people) and not attendants, now, **detail
            )
        return out

    def _authorised(self, person: Person, zone: Zone) -> bool:
        return zone.id in person.zones or (
            bool(person.role) and person.role in zone.authorised_roles
        )

    def _man_down(self, st: TagState, now: float) -> list[Transition]:
        md = self.plan.man_down
        if not md.enabled:
            return []
        a = st.anchor
        if md.zones and not any(self.zones[z].id in md.zones for z in st.inside):
            if a is None or st.man_down is None:
                return []
            st.anchor = None
            pre, alarm = st.man_down
            return pre.observe(False, now) + alarm.observe(False, now)
        if a is not None and (st.x - a[0]) ** 2 + (st.y - a[1]) ** 2 <= md.radius_m**2:
            return []
        st.anchor = (st.x, st.y)
        if st.man_down is None:
            st.man_down = (self._alarm(st, "man_down_pre"), self._alarm(st, "man_down"))
        pre, alarm = st.man_down
        out: list[Transition] = []
        if a is not None:  # moved: both timers start again
            out += pre.observe(False, now) + alarm.observe(False, now)
        detail = self._detail(st)
        return out + pre.observe(True, now, **detail) + alarm.observe(True, now, **detail)

    def _battery(self, st: TagState, pct: float, now: float) -> list[Transition]:
        st.battery = pct
        low = self.plan.battery_low_pct
        want = pct < low if not st.low_battery else pct < low + BATTERY_HYSTERESIS
        if want == st.low_battery:
            return []
        st.low_battery = want
        return self._alarm(st, "battery").observe(want, now, pct, **self._detail(st, battery=pct))

    # -- time ---------------------------------------------------------------------------

    def tick(self, now: float) -> list[Transition]:
        self._now = now
        out: list[Transition] = []
        if FEED.pending:
            FEED.flush(self.plan.id, now)
        if self._previous is not None:
            old, self._previous = self._previous, None
            out += self._adopt(old, now)
        if not self._started:  # key posts count as unattended from the start until a tag says so
            self._started = True
            for z in range(len(self.zones)):
                if self.zones[z].key_post_s is not None:
                    out += self._zone_rules(z, now)
        if self._pending_tags:  # dwell times run out without a new position
            dwell = self.plan.min_dwell_s
            for tag in list(self._pending_tags):
                st = self.tags[tag]
                for (near, z), since in list(st.pending.items()):
                    if now - since >= dwell:
                        state = z in (st.near if near else st.inside)
                        out += self._hold(st, near, z, state, not state, dwell, now)
                if not st.pending:
                    self._pending_tags.discard(tag)
        if now < self._next_slow:
            return out
        self._next_slow = now + SLOW_TICK_S
        lost_after = self.plan.lost_after_s
        for st in self.tags.values():
            if not st.lost and now - st.seen > lost_after:
                st.lost = True
                out += self._alarm(st, "lost").observe(
                    True, now, **self._detail(st, last_seen_s=round(now - st.seen, 1))
                )
        out += self._exposure(now)
        return out

    def evaluate(self, now: float) -> list[Transition]:
        if self.muster is None and self.plan.muster.start_on_level1:
            cause = next((a for a in self._l1_alarms() if a.effective), None)
            if cause is not None:
                return self._start_muster(now, "alarm", f"level-1 alarm {cause.spec.id}")
        return []

    def _l1_alarms(self) -> list[Alarm]:
        own = [a for a in self.by_id.values() if a.spec.level == Level.LEVEL_1]
        return self._l1 + own

    # -- exposure -----------------------------------------------------------------------

    @staticmethod
    def _gases_by_zone(gases: Sequence[GasExposure]) -> dict[str, list[str]]:
        return {g.gas: list(g.channels) for g in gases}

    def _concentration(self, st: TagState, gas: GasExposure) -> float:
        best = 0.0
        for z in st.inside:
            for ch in self.zones[z].channels:
                if ch in gas.channels:
                    r = self.ctx.live.get(ch)
                    if r is not None and r.value is not None and r.quality < Quality.BAD:
                        best = max(best, r.value)
        return best

    def _exposure(self, now: float) -> list[Transition]:
        out: list[Transition] = []
        if not self.plan.exposure:
            return out
        hold = self.plan.lost_after_s
        for st in self.tags.values():
            for gas in self.plan.exposure:
                key = (st.tag, gas.gas)
                exp = self.exposures.get(key)
                value = self._concentration(st, gas) if not st.lost else 0.0
                if exp is None:
                    if value <= 0:
                        continue
                    exp = self.exposures[key] = WorkerExposure(
                        gas.stel_window_s, gas.twa_window_s, hold
                    )
                exp.sample(now, value)
                stel, twa = exp.averages(now)
                for what, avg, limit in (("stel", stel, gas.stel), ("twa", twa, gas.twa)):
                    if limit is None:
                        continue
                    alarm = self.by_id.get(f"person:{st.tag}:{what}:{gas.gas}")
                    if alarm is None and avg < limit:
                        continue
                    alarm = alarm or self._alarm(st, what, gas.gas)
                    out += alarm.observe(
                        avg >= limit,
                        now,
                        round(avg, 4),
                        **self._detail(st, gas=gas.gas, average=round(avg, 4), limit=limit),
                    )
        return out

    def exposure_view(self, now: float) -> list[dict[str, Any]]:
        rows = []
        for (tag, gas), exp in sorted(self.exposures.items()):
            stel, twa = exp.averages(now)
            st = self.tags[tag]
            rows.append(
                {
                    "tag": tag,
                    "person": st.person.name,
                    "gas": gas,
                    "stel": round(stel, 4),
                    "twa": round(twa, 4),
                    "stel_peak": round(exp.stel_peak, 4),
                    "peak": round(exp.peak, 4),
                }
            )
        return rows

    # -- mustering ----------------------------------------------------------------------

    def _start_muster(self, now: float, who: str, reason: str) -> list[Transition]:
        within = self.plan.muster.present_within_s
        roll = [st.tag for st in self.tags.values() if st.seen and now - st.seen <= within]
        self.muster = MusterRoll(now, who, reason, {t: self.tags[t].person.name for t in roll})
        self.ctx.emit(
            Event(
                "muster_started",
                f"muster:{self.plan.id}",
                int(now * 1000),
                Level.LEVEL_2,
                {"who": who, "reason": reason, "on_roll": len(roll)},
            )
        )
        out: list[Transition] = []
        for t in roll:  # already at a muster point: accounted at once
            st = self.tags[t]
            point = next((z for z in st.inside if self.zones[z].type == "muster_point"), None)
            if point is not None:
                out += self._accounted(st, self.zones[point], now)
        return out

    def _accounted(self, st: TagState, zone: Zone, now: float) -> list[Transition]:
        m = self.muster
        if m is None or not m.account(st.tag, zone.id, now):
            return []
        self.ctx.emit(
            Event(
                "muster_accounted",
                f"person:{st.tag}",
                int(now * 1000),
                Level.INFO,
                {
                    "tag": st.tag,
                    "person": st.person.name,
                    "point": zone.id,
                    "time_to_muster_s": round(now - m.started_at, 1),
                },
            )
        )
        if m.complete_at == now:
            self.ctx.emit(
                Event(
                    "muster_complete",
                    f"muster:{self.plan.id}",
                    int(now * 1000),
                    Level.INFO,
                    {"time_to_muster_s": round(now - m.started_at, 1)},
                )
            )
        return []

    def roll(self, now: float) -> dict[str, Any]:
        m = self.muster
        if m is None:
            return {"active": False, "last_report": self.last_report}
        return {"active": True, **m.view(now, self._whereabouts)}

    def _whereabouts(self, tag: str, now: float) -> dict[str, Any]:
        st = self.tags[tag]
        return {
            "zones": [self.zones[z].id for z in st.inside],
            "x": round(st.x, 2),
            "y": round(st.y, 2),
            "age_s": round(now - st.seen, 1),
            "lost": st.lost,
        }

    # -- commands and views -------------------------------------------------------------

    def command(
        self, action: str, args: Mapping[str, Any], now: float
    ) -> tuple[Any, Sequence[Transition]]:
        self._now = now
        who = str(args.get("who", "operator"))
        if action == "snapshot":
            return self.snapshot(now), ()
        if action == "muster_start":
            if self.muster is not None:
                raise CommandRefused("a muster is already running")
            out = self._start_muster(now, who, str(args.get("reason", "")) or "command")
            return self.roll(now), out
        if action == "muster_end":
            if self.muster is None:
                raise CommandRefused("no muster is running")
            report = self.muster.report(now, self._whereabouts)
            report["ended_by"] = who
            self.last_report = report
            self.muster = None
            self.ctx.emit(
                Event(
                    "muster_report", f"muster:{self.plan.id}", int(now * 1000), Level.INFO, report
                )
            )
            return report, ()
        if action == "muster_roll":
            return self.roll(now), ()
        if action == "exposure":
            return self.exposure_view(now), ()
        if action == "track":
            st = self.tags.get(str(args.get("tag", "")))
            return ([list(t) for t in st.track] if st else []), ()
        raise CommandRefused(f"unknown positioning command {action!r}")

    def snapshot(self, now: float) -> dict[str, Any]:
        people = []
        for st in self.tags.values():
            states = {}
            for what in ("sos", "man_down", "man_down_pre", "lost", "battery"):
                a = self.by_id.get(f"person:{st.tag}:{what}")
                if a is not None and a.state != State.NORMAL:
                    states[what] = str(a.state)
            p = st.person
            people.append(
                {
                    "tag": st.tag,
                    "name": p.name,
                    "role": p.role,
                    "team": p.team,
                    "badge": p.badge,
                    "x": _num(st.x),
                    "y": _num(st.y),
                    "z": _num(st.z),
                    "ts_ms": st.ts_ms,
                    "age_s": round(now - st.seen, 1),
                    "battery": st.battery,
                    "lost": st.lost,
                    "sos": st.sos,
                    "zones": [self.zones[z].id for z in st.inside],
                    "alarms": states,
                }
            )
        zones = []
        for i, z in enumerate(self.zones):
            active = [
                a.spec.id
                for a in self.by_id.values()
                if a.spec.zone == z.id and a.state != State.NORMAL
            ]
            zones.append(
                {
                    "id": z.id,
                    "name": z.name,
                    "type": z.type,
                    "polygon": z.polygon,
                    "count": len(self.counts[i]),
                    "max_people": z.max_people,
                    "cameras": z.cameras,
                    "channels": z.channels,
                    "alarms": active,
                    "state": "alarm" if active else "normal",
                }
            )
        return {
            "plan": self.plan.id,
            "plan_m": list(self.plan.plan_extent()),
            "ts": now,
            "people": people,
            "zones": zones,
            "muster": self.roll(now),
            "unknown_refused": self.unknown_refused,
            "out_of_order": self.out_of_order,
            "bad_positions": self.bad_positions,
        }


def _num(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 3)
