"""Per-channel rules. Each turns readings (and the passing of time) into alarm conditions.

Rules never change alarm states themselves: they call ``Alarm.observe`` and return the
transitions, so delays, latching and shelving work the same for every kind of rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from box.alarms.alarm import Alarm, AlarmSpec, Transition
from box.alarms.config import (
    ChannelConfig,
    Exposure,
    RateOfChange,
    Sustained,
    Thresholds,
    order_problem,
)
from box.alarms.exposure import RollingAverage
from box.core.records import Quality, Reading

NE43_LOW_MA = 3.6
NE43_HIGH_MA = 21.0

Persist = Callable[[str, str | None], None]


def _channel_alarm(
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


class ThresholdRule:
    """Up to four levels with hysteresis, each rising or falling. Within one direction a more
    severe level implies the less severe ones (LOLO implies LO, A2 implies A1)."""

    def __init__(self, channel: ChannelConfig, cfg: Thresholds) -> None:
        self.cfg = cfg
        deadband = cfg.deadband
        if cfg.deadband_pct is not None and channel.range is not None:
            deadband = cfg.deadband_pct / 100 * (channel.range[1] - channel.range[0])
        self.deadband = deadband
        self.names = [lv.name for lv in cfg.levels]
        self.base = {lv.name: lv.at for lv in cfg.levels}
        self.at = dict(self.base)
        self._ats = [self.at[n] for n in self.names]
        self._rising = [cfg.rising(lv) for lv in cfg.levels]
        # Most severe first within each direction, so that implication runs down each ladder.
        self._ladders = [
            [i for i in range(len(self.names) - 1, -1, -1) if self._rising[i] == up]
            for up in (True, False)
        ]
        self.alarms = [
            _channel_alarm(
                channel,
                lv.name,
                lv.level,
                lv.latching,
                on_delay_s=cfg.on_delay_s,
                off_delay_s=cfg.off_delay_s,
            )
            for lv in cfg.levels
        ]
        self._beyond = [False] * len(cfg.levels)

    def set_points(self, points: dict[str, float] | None) -> None:
        """Apply a profile's setpoints (None restores the configured ones)."""
        self.at = {**self.base, **(points or {})}
        self._ats = [self.at[n] for n in self.names]

    def order_problem(self, ats: dict[str, float]) -> str | None:
        """Why these 'at' values (merged over the configured ones) would break the ladder."""
        return order_problem(self.cfg.ladder({**self.base, **ats}))

    def evaluate(self, v: float, now: float) -> list[Transition]:
        # Raise at the setpoint (>= rising, <= falling); clear only strictly past the deadband.
        db = self.deadband
        beyond = self._beyond
        for i, at in enumerate(self._ats):
            if self._rising[i]:
                beyond[i] = v >= (at - db if beyond[i] else at)
            else:
                beyond[i] = v <= (at + db if beyond[i] else at)
        out: list[Transition] = []
        for ladder in self._ladders:
            implied = False
            for i in ladder:
                implied = implied or beyond[i]
                alarm = self.alarms[i]
                if implied == alarm.raw == alarm.effective:
                    alarm.value = v  # steady state: nothing to decide (the hot path)
                    continue
                out += alarm.observe(implied, now, v, threshold=self.at[self.names[i]])
        return out


class OverRangeRule:
    def __init__(self, channel: ChannelConfig) -> None:
        assert channel.range is not None  # noqa: S101 - built only for channels with a range
        self.high = channel.range[1]
        self.alarm = _channel_alarm(channel, "over_range", 1, True)

    def evaluate(self, v: float, now: float) -> Sequence[Transition]:
        cond = v > self.high
        alarm = self.alarm
        if cond == alarm.raw == alarm.effective:
            alarm.value = v
            return ()
        return alarm.observe(cond, now, v, range_max=self.high)


class FaultRule:
    """Bad quality, NAMUR NE43 loop faults, or no good reading for ``stale_after_s``.

    Still offline after ``escalate_after_s``: a maintenance escalation (reported once).
    """

    def __init__(self, channel: ChannelConfig, now: float) -> None:
        a = channel.alarms
        self.ne43 = channel.ne43
        self.stale_after_s = a.stale_after_s
        self.escalate_after_s = a.escalate_after_s
        self.last_good = now  # a channel never heard from faults after stale_after_s too
        self.bad_quality = False
        self.device_reason = ""
        self.loop_fault = ""
        self.escalated = False
        self.alarm = _channel_alarm(channel, "fault", a.fault_level, False, kind="fault")

    def on_reading(self, r: Reading, now: float) -> Sequence[Transition]:
        if (
            not self.ne43
            and r.value is not None
            and r.quality < Quality.BAD
            and not (self.alarm.raw or self.alarm.effective or self.bad_quality)
        ):
            self.last_good = now  # healthy and was healthy: the hot path
            self.escalated = False
            return ()
        self.bad_quality = r.quality >= Quality.BAD or r.value is None
        self.device_reason = r.reason if self.bad_quality else ""  # "warming up", "sensor short"
        self.loop_fault = ""
        if not self.bad_quality and self.ne43:
            assert r.value is not None  # noqa: S101 - checked just above
            if r.value < NE43_LOW_MA:
                self.loop_fault = f"loop current {r.value:.2f} mA < {NE43_LOW_MA} (NE43)"
            elif r.value > NE43_HIGH_MA:
                self.loop_fault = f"loop current {r.value:.2f} mA > {NE43_HIGH_MA} (NE43)"
        if not self.bad_quality and not self.loop_fault:
            self.last_good = now
            self.escalated = False
        return self._observe(now)

    def tick(self, now: float) -> list[Transition]:
        return self._observe(now)

    def _observe(self, now: float) -> list[Transition]:
        stale = now - self.last_good >= self.stale_after_s
        reasons = [r for r, on in (("stale", stale), ("quality_bad", self.bad_quality)) if on]
        if self.bad_quality and self.device_reason:
            reasons.append(self.device_reason)
        if self.loop_fault:
            reasons.append(self.loop_fault)
        return self.alarm.observe(bool(reasons), now, reasons=reasons)

    def escalation_due(self, now: float) -> bool:
        """True once per offline episode, when it has lasted ``escalate_after_s``."""
        if self.escalated or now - self.last_good < self.escalate_after_s:
            return False
        self.escalated = True
        return True


class SustainedRule:
    """'above X for D': the start of the condition is persisted, so a restart does not reset D."""

    def __init__(
        self, channel: ChannelConfig, cfg: Sustained, persist: Persist, saved: str | None
    ) -> None:
        self.cfg = cfg
        self.persist = persist
        self.key = f"sustained.{channel.id}:{cfg.name}"
        self.since = float(saved) if saved else None
        self.alarm = _channel_alarm(channel, cfg.name, cfg.level, cfg.latching)

    def evaluate(self, v: float, ts: float, now: float) -> list[Transition]:
        c = self.cfg
        beyond = v > c.above if c.above is not None else v < c.below  # type: ignore[operator]
        if beyond and self.since is None:
            self.since = ts
            self.persist(self.key, repr(ts))
        elif not beyond and self.since is not None:
            self.since = None
            self.persist(self.key, None)
        return self._observe(now, v)

    def tick(self, now: float) -> list[Transition]:
        return self._observe(now, None)

    def _observe(self, now: float, v: float | None) -> list[Transition]:
        cond = self.since is not None and now - self.since >= self.cfg.for_s
        return self.alarm.observe(cond, now, v, since=self.since, for_s=self.cfg.for_s)


class RateRule:
    """A rise of ``rise`` units within ``within_s`` s (window minimum kept in O(1) amortised)."""

    def __init__(self, channel: ChannelConfig, cfg: RateOfChange) -> None:
        self.cfg = cfg
        self.window: deque[tuple[float, float]] = deque()  # increasing values: candidate minima
        self.alarm = _channel_alarm(channel, cfg.name, cfg.level, cfg.latching)

    def evaluate(self, v: float, ts: float, now: float) -> list[Transition]:
        w = self.window
        while w and w[-1][1] >= v:
            w.pop()
        w.append((ts, v))
        while w[0][0] < ts - self.cfg.within_s:
            w.popleft()
        rise = v - w[0][1]
        return self.alarm.observe(rise >= self.cfg.rise, now, v, rise=round(rise, 6))


class ExposureRule:
    def __init__(self, channel: ChannelConfig, cfg: Exposure) -> None:
        hold = channel.alarms.stale_after_s
        self.limits: list[tuple[RollingAverage, float, Alarm]] = []
        for name, limit, window in (
            ("stel", cfg.stel, cfg.stel_window_s),
            ("twa", cfg.twa, cfg.twa_window_s),
        ):
            if limit is not None:
                alarm = _channel_alarm(channel, name, cfg.level, cfg.latching)
                self.limits.append((RollingAverage(window, hold), limit, alarm))

    @property
    def alarms(self) -> list[Alarm]:
        return [a for _, _, a in self.limits]

    def evaluate(self, v: float | None, ts: float, now: float) -> list[Transition]:
        out: list[Transition] = []
        for avg, limit, alarm in self.limits:
            if v is not None:
                avg.add(ts, v)
            mean = avg.average(ts if v is not None else now)
            out += alarm.observe(mean >= limit, now, None, average=round(mean, 6), limit=limit)
        return out


class ChannelRules:
    """All rules of one channel, evaluated for each of its readings and on every tick."""

    def __init__(
        self, channel: ChannelConfig, now: float, persist: Persist, saved: dict[str, str]
    ) -> None:
        a = channel.alarms
        self.channel = channel
        self.thresholds = ThresholdRule(channel, a.thresholds) if a.thresholds else None
        self.over_range = OverRangeRule(channel) if channel.range and a.over_range else None
        self.fault = FaultRule(channel, now)  # every channel: safety only bounds stale_after_s
        self.sustained = [
            SustainedRule(channel, s, persist, saved.get(f"sustained.{channel.id}:{s.name}"))
            for s in a.sustained
        ]
        self.rate = [RateRule(channel, r) for r in a.rate]
        self.exposure = ExposureRule(channel, a.exposure) if a.exposure else None
        self._timed = bool(self.sustained or self.rate or self.exposure)

    def alarms(self) -> list[Alarm]:
        out: list[Alarm] = []
        if self.thresholds:
            out += self.thresholds.alarms
        if self.over_range:
            out.append(self.over_range.alarm)
        out.append(self.fault.alarm)
        out += [s.alarm for s in self.sustained] + [r.alarm for r in self.rate]
        if self.exposure:
            out += self.exposure.alarms
        return out

    def on_reading(self, r: Reading, now: float, out: list[Transition]) -> None:
        """Append the transitions that reading ``r`` causes to ``out`` (the hot path)."""
        fault = self.fault
        out += fault.on_reading(r, now)
        if fault.loop_fault:
            return
        v = r.value
        if v is None or r.quality >= Quality.BAD:
            return  # bad data never clears (or raises) a process alarm
        if self.thresholds is not None:
            out += self.thresholds.evaluate(v, now)
        if self.over_range is not None:
            out += self.over_range.evaluate(v, now)
        if self._timed:
            ts = r.ts_ms / 1000
            for s in self.sustained:
                out += s.evaluate(v, ts, now)
            for rate in self.rate:
                out += rate.evaluate(v, ts, now)
            if self.exposure:
                out += self.exposure.evaluate(v, ts, now)

    def tick(self, now: float) -> list[Transition]:
        out: list[Transition] = []
        out += self.fault.tick(now)
        for s in self.sustained:
            out += s.tick(now)
        if self.exposure:
            out += self.exposure.evaluate(None, now, now)
        for alarm in self.alarms():
            out += alarm.tick(now)
        return out
