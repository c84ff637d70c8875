"""The fault rule, always on and configured by the channel's own keys (``stale_after_s``,
``escalate_after_s``, ``fault_level``, ``ne43``): bad quality, NAMUR NE43 loop faults, stale data.

The fault rule is each channel's gate: it sees every reading, also bad ones, and the other
rules see a value only when it is good.
"""

from __future__ import annotations

from collections.abc import Sequence

from box.alarms.alarm import Transition
from box.alarms.config import ChannelConfig
from box.alarms.kinds.base import ChannelContext, ChannelKind, ChannelRule, channel_alarm
from box.core.model import StrictModel
from box.core.records import Quality, Reading

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
        self.loop_fault = ""
        self.escalated = False
        self.alarm = channel_alarm(channel, "fault", a.fault_level, False, kind="fault")
        self.alarms = [self.alarm]

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


class FaultKind(ChannelKind[StrictModel]):
    name = "fault"
    model = None

    def build(self, channel: ChannelConfig, ctx: ChannelContext) -> list[ChannelRule]:
        return [FaultRule(channel, ctx.now)]  # every channel: safety only bounds stale_after_s


KIND = FaultKind()
