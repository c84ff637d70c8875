"""All rules of one channel, built from the channel rule kinds (box/alarms/kinds).

The fault rule is the gate: it sees every reading; the other rules see good values only.
Dispatch lists are built once per configure, so a reading calls exactly the rules that act
on values, and a tick exactly those that act on time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from box.alarms.alarm import Alarm, Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds import fault
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule
from box.alarms.kinds.fault import FaultRule
from box.alarms.kinds.thresholds import ThresholdRule
from box.core.records import Quality, Reading

OnValue = Callable[[float, float, float], Sequence[Transition]]
OnTick = Callable[[float], Sequence[Transition]]


def _overrides(rule: ChannelRule, method: str) -> bool:
    return getattr(type(rule), method) is not getattr(ChannelRule, method)


class ChannelRules:
    """All rules of one channel, evaluated for each of its readings and on every tick."""

    def __init__(
        self, channel: ChannelConfig, ctx: ChannelContext, kinds: Iterable[ChannelKind]
    ) -> None:
        self.channel = channel
        self.by_kind: dict[str, list[ChannelRule]] = {k.name: k.build(channel, ctx) for k in kinds}
        rules = [r for built in self.by_kind.values() for r in built]
        gate = next((r for r in rules if isinstance(r, FaultRule)), None)
        if gate is None:  # every channel faults when offline, whatever kinds were loaded
            gate = FaultRule(channel, ctx.now)
            self.by_kind[fault.KIND.name] = [gate]
            rules.append(gate)
        self.fault = gate
        self.rules = rules
        self._alarms: list[Alarm] = [a for r in rules for a in r.alarms]
        self._on_value: tuple[OnValue, ...] = tuple(
            r.on_value for r in rules if _overrides(r, "on_value")
        )
        self._on_tick: tuple[OnTick, ...] = tuple(r.tick for r in rules if _overrides(r, "tick"))
        # The threshold ladder: operator setpoint changes and profiles act on it.
        self.thresholds = next((r for r in rules if isinstance(r, ThresholdRule)), None)
        self._value_rules = [r for r in rules if _overrides(r, "on_value")]
        for rule in self._value_rules:
            rule.watch_band(self._new_band)
        self._new_band()

    def _new_band(self) -> None:
        """The values for which no rule would act (the steady state): the band every value
        rule is quiet in, and the alarms whose value they would record. Empty when any rule
        is not quiet or cannot say (then every reading takes the full path)."""
        low, high = -math.inf, math.inf
        alarms: list[Alarm] = []
        for rule in self._value_rules:
            band = rule.quiet_band()
            if band is None:
                low, high = math.inf, -math.inf
                break
            low, high = max(low, band[0]), min(high, band[1])
            alarms += band[2]
        self._low, self._high = low, high
        self._band_alarms = tuple(alarms)

    def alarms(self) -> list[Alarm]:
        return self._alarms

    def saved_state(self) -> dict[str, str]:
        return {k: v for r in self.rules for k, v in r.saved_state().items()}

    def on_reading(self, r: Reading, now: float, out: list[Transition]) -> None:
        """Append the transitions that reading ``r`` causes to ``out`` (the hot path)."""
        gate = self.fault
        v = r.value
        # The steady state, most readings: a good value inside the quiet band of a channel
        # without faults or device bits changes nothing but the last value (NaN, None and
        # out-of-band values fail the comparison and take the full path below).
        if (
            gate.steady
            and r.quality < Quality.BAD
            and r.device_alarm is None
            and v is not None
            and self._low < v < self._high
        ):
            gate.last_good = now  # what the gate's own steady path does
            gate.escalated = False
            for alarm in self._band_alarms:
                alarm.value = v
            return
        self._evaluate(r, v, now, out)
        self._new_band()

    def _evaluate(self, r: Reading, v: float | None, now: float, out: list[Transition]) -> None:
        gate = self.fault
        out += gate.on_reading(r, now)
        if r.device_alarm is not None and self.thresholds is not None and _trusted(r):
            good = v is not None and r.quality < Quality.BAD and not gate.loop_fault
            out += self.thresholds.on_device(r.device_alarm, good, now)
        if gate.loop_fault or v is None or r.quality >= Quality.BAD:
            return  # bad data never clears (or raises) a process alarm; the device's bits may
        ts = r.ts_ms / 1000
        for on_value in self._on_value:
            out += on_value(v, ts, now)

    def tick(self, now: float) -> list[Transition]:
        out: list[Transition] = []
        for on_tick in self._on_tick:
            out += on_tick(now)
        for alarm in self._alarms:
            out += alarm.tick(now)
        return out


def _trusted(r: Reading) -> bool:
    """A device in calibration (test gas) or with its alarms inhibited signals nothing real."""
    reason = r.reason.lower()
    return not (reason.startswith("calibration") or "inhibit" in reason)
