"""The fault rule, always on and configured by the channel's own keys (``stale_after_s``,
``escalate_after_s``, ``fault_level``, ``ne43``): bad quality, NAMUR NE43 loop faults, stale data.

A device that says it is warming up, being calibrated or has its alarms inhibited is working
as designed: the channel is *not ready* (``CH:not_ready``, level 4, lit yellow, silent), not
faulty; such readings keep it from going stale, and ``escalate_after_s`` still reports a
warm-up that never ends.

The fault rule is each channel's gate: it sees every reading, also bad ones, and the other
rules see a value only when it is good.
"""

from __future__ import annotations

from collections.abc import Sequence

from box.alarms.alarm import Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, channel_alarm
from box.core.model import StrictModel
from box.core.records import Quality, Reading, not_ready

NE43_LOW_MA = 3.6
NE43_HIGH_MA = 21.0


class FaultRule(ChannelRule):
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
        self.not_ready = ""  # "warming up", "calibration in progress" while the device says so
        self.last_not_ready = now  # the last not-ready reading: it counts as heard for stale
        self.loop_fault = ""
        self.escalated = False
        self.alarm = channel_alarm(channel, "fault", a.fault_level, False, kind="fault")
        self.ready_alarm = channel_alarm(channel, "not_ready", 4, False, kind="inhibit")
        self.alarms = [self.alarm, self.ready_alarm]
        # Healthy and was healthy: a good reading only sets last_good and clears escalated (the
        # channel's own steady path does just that without calling in).
        self.steady = False

    def on_reading(self, r: Reading, now: float) -> Sequence[Transition]:
        if self.steady and r.value is not None and r.quality < Quality.BAD:
            self.last_good = now  # healthy and was healthy: the hot path
            self.escalated = False
            return ()
        bad = r.quality >= Quality.BAD or r.value is None
        self.not_ready = r.reason if bad and not_ready(r.reason) else ""
        self.bad_quality = bad and not self.not_ready
        self.device_reason = r.reason if self.bad_quality else ""  # "sensor short", ...
        if self.not_ready:
            self.last_not_ready = now
        self.loop_fault = ""
        if not self.bad_quality and self.ne43:
            assert r.value is not None  # noqa: S101 - checked just above
            if r.value < NE43_LOW_MA:
                self.loop_fault = f"loop current {r.value:.2f} mA < {NE43_LOW_MA} (NE43)"
            elif r.value > NE43_HIGH_MA:
                self.loop_fault = f"loop current {r.value:.2f} mA > {NE43_HIGH_MA} (NE43)"
        if not bad and not self.loop_fault:
            self.last_good = now
            self.escalated = False
        return self._observe(now)

    def tick(self, now: float) -> list[Transition]:
        return self._observe(now)

    def _observe(self, now: float) -> list[Transition]:
        stale = now - max(self.last_good, self.last_not_ready) >= self.stale_after_s
        reasons = [r for r, on in (("stale", stale), ("quality_bad", self.bad_quality)) if on]
        if self.bad_quality and self.device_reason:
            reasons.append(self.device_reason)
        if self.loop_fault:
            reasons.append(self.loop_fault)
        out = self.alarm.observe(bool(reasons), now, reasons=reasons)
        out += self.ready_alarm.observe(bool(self.not_ready), now, reason=self.not_ready)
        # (the fault alarm has no delays: raw is its effective state once observed)
        self.steady = not (self.ne43 or reasons or self.not_ready or self.alarm.effective)
        return out

    def escalation_due(self, now: float) -> bool:
        """True once per offline episode, when it has lasted ``escalate_after_s``."""
        if self.escalated or now - self.last_good < self.escalate_after_s:
            return False
        self.escalated = True
        return True


class FaultKind(ChannelKind[StrictModel]):
    name = "fault"
    model = None

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        return [FaultRule(channel, ctx.now)]  # every channel: safety only bounds stale_after_s


KIND = FaultKind()
