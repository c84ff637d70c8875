"""One alarm's lifecycle: condition (after ON/OFF delays) -> state, plus ack, reset and shelve.

States (GB 16808 / ISA-18.2 style):

- ``normal``
- ``active_unack``: condition present, nobody acknowledged it yet
- ``active_ack``: condition present, acknowledged
- ``cleared_unack``: a latching alarm whose condition went away before anyone acknowledged it
- ``latched``: a latching alarm, cleared and acknowledged, waiting for a manual reset

Shelving is an overlay with a mandatory expiry: a shelved alarm still tracks its condition and
is visible everywhere, but does not sound or drive outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from box.core.errors import CommandRefused
from box.core.levels import COLOURS, RESPONSE
from box.numbers import DEFAULT_DECIMALS


class State(StrEnum):
    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    LATCHED = "latched"


UNACKED = (State.ACTIVE_UNACK, State.CLEARED_UNACK)
ACTIVE = (State.ACTIVE_UNACK, State.ACTIVE_ACK)


class AlarmCommandError(CommandRefused):
    """An operator command that does not apply to the alarm in its current state."""


@dataclass(frozen=True)
class AlarmSpec:
    id: str
    source: str  # channel id, "vote:ID" or "ext:KEY"
    name: str
    level: int
    latching: bool = False
    kind: str = "alarm"  # "alarm" or "fault"
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    zone: str = ""
    unit: str = ""
    decimals: int = DEFAULT_DECIMALS  # for showing values and thresholds (CLI, logs)
    shelvable: bool = True  # False for an SOS: an emergency button can never be disarmed


@dataclass(frozen=True)
class Transition:
    """Something that happened to an alarm; the engine stores it as an event."""

    kind: str  # alarm_raised, alarm_cleared, alarm_acked, alarm_reset, alarm_shelved, ...
    alarm: Alarm
    from_state: State
    details: dict[str, Any] = field(default_factory=dict)


class Alarm:
    def __init__(self, spec: AlarmSpec) -> None:
        self.spec = spec
        self.state = State.NORMAL
        self.raw = False  # condition as last observed, before delays
        self.raw_since = 0.0
        self.effective = False  # condition after ON/OFF delays
        self.value: float | None = None
        self.raised_at: float | None = None
        self.cleared_at: float | None = None
        self.acked: dict[str, Any] | None = None  # who, at, note
        self.shelved: dict[str, Any] | None = None  # until, reason, who, at
        self.first_out = False
        self.detail: dict[str, Any] = {}

    # -- condition ------------------------------------------------------------------------

    def observe(
        self, cond: bool, now: float, value: float | None = None, **detail: Any
    ) -> list[Transition]:
        if value is not None:
            self.value = value
        if detail:
            self.detail = detail
        if cond != self.raw:
            self.raw, self.raw_since = cond, now
        return self._apply_delays(now)

    def tick(self, now: float) -> list[Transition]:
        out = self._apply_delays(now)
        if self.shelved is not None and now >= self.shelved["until"]:
            out += self._unshelve(now, who="expiry")
        return out

    @property
    def pending(self) -> bool:
        """The condition is present but the ON delay has not run out (the 'delay' indicator)."""
        return self.raw and not self.effective

    def _apply_delays(self, now: float) -> list[Transition]:
        if self.raw == self.effective:
            return []
        delay = self.spec.on_delay_s if self.raw else self.spec.off_delay_s
        if now - self.raw_since < delay:
            return []
        self.effective = self.raw
        return self._condition_changed(now)

    def _condition_changed(self, now: float) -> list[Transition]:
        before = self.state
        if self.effective:
            if self.state in ACTIVE:
                return []
            self.state = State.ACTIVE_UNACK
            self.raised_at, self.acked, self.cleared_at = now, None, None
            return [Transition("alarm_raised", self, before)]
        if self.state not in ACTIVE:
            return []
        self.cleared_at = now
        if self.spec.latching:
            self.state = State.CLEARED_UNACK if before == State.ACTIVE_UNACK else State.LATCHED
        else:
            self.state = State.NORMAL
        return [Transition("alarm_cleared", self, before)]

    # -- operator commands -------------------------------------------------------------------

    def ack(self, who: str, now: float, note: str = "") -> list[Transition]:
        if self.state not in UNACKED:
            raise AlarmCommandError(f"alarm {self.spec.id} is {self.state}: nothing to acknowledge")
        before = self.state
        self.acked = {"who": who, "at": now, "note": note}
        self.state = State.ACTIVE_ACK if before == State.ACTIVE_UNACK else State.LATCHED
        return [Transition("alarm_acked", self, before, {"who": who, "note": note})]

    def reset(self, who: str, now: float) -> list[Transition]:
        if self.state in ACTIVE or self.effective:
            raise AlarmCommandError(
                f"alarm {self.spec.id} cannot be reset: its condition is still present"
            )
        if self.state == State.NORMAL:
            raise AlarmCommandError(f"alarm {self.spec.id} is normal: nothing to reset")
        before = self.state
        self.state = State.NORMAL
        return [Transition("alarm_reset", self, before, {"who": who})]

    def shelve(self, who: str, now: float, duration_s: float, reason: str) -> list[Transition]:
        if not self.spec.shelvable:
            raise AlarmCommandError(f"alarm {self.spec.id} cannot be shelved")
        reason = reason.strip()
        if not reason:
            raise AlarmCommandError("shelving needs a reason")
        if duration_s <= 0:
            raise AlarmCommandError("shelving needs a positive duration (it always expires)")
        until = now + duration_s
        self.shelved = {"until": until, "reason": reason, "who": who, "at": now}
        return [
            Transition(
                "alarm_shelved", self, self.state, {"who": who, "reason": reason, "until": until}
            )
        ]

    def unshelve(self, who: str, now: float) -> list[Transition]:
        if self.shelved is None:
            raise AlarmCommandError(f"alarm {self.spec.id} is not shelved")
        return self._unshelve(now, who)

    def _unshelve(self, now: float, who: str) -> list[Transition]:
        self.shelved = None
        out = [Transition("alarm_unshelved", self, self.state, {"who": who})]
        if self.effective and self.state == State.ACTIVE_ACK:
            # Back from maintenance with the condition still there: announce it again.
            before, self.state, self.acked = self.state, State.ACTIVE_UNACK, None
            out.append(Transition("alarm_raised", self, before, {"reason": "unshelved"}))
        return out

    # -- views and persistence ---------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": s.id,
            "source": s.source,
            "name": s.name,
            "kind": s.kind,
            "zone": s.zone,
            "unit": s.unit,
            "decimals": s.decimals,
            "level": s.level,
            "colour": COLOURS[s.level],
            "response": RESPONSE[s.level],
            "latching": s.latching,
            "state": str(self.state),
            "condition": self.effective,
            "pending": self.pending,
            "value": self.value,
            "raised_at": self.raised_at,
            "cleared_at": self.cleared_at,
            "acked": self.acked,
            "shelved": self.shelved,
            "first_out": self.first_out,
            "detail": self.detail,
        }

    def persisted(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "effective": self.effective,
            "value": self.value,
            "raised_at": self.raised_at,
            "cleared_at": self.cleared_at,
            "acked": self.acked,
            "shelved": self.shelved,
            "first_out": self.first_out,
        }

    def restore(self, saved: dict[str, Any], now: float) -> None:
        """Bring back a state saved before a restart. An active alarm stays active until a
        reading says otherwise: a restart must never silently clear an alarm."""
        self.state = State(saved["state"])
        self.effective = self.raw = bool(saved["effective"]) or self.state in ACTIVE
        self.raw_since = now
        for key in ("value", "raised_at", "cleared_at", "acked", "shelved", "first_out"):
            setattr(self, key, saved.get(key))
        self.first_out = bool(self.first_out)
