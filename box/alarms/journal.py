"""One log line per alarm transition, so the journal alone can reconstruct an incident.

The engine calls these after the outputs have been driven; in the daemon the lines then leave
the core thread through a queue (box/runtime/logs.py), so a slow log handler delays no reading.
"""

from __future__ import annotations

import logging
from typing import Any

from box.alarms.alarm import Transition
from box.numbers import shown

log = logging.getLogger("box.alarms.transitions")

VERBS = {
    "alarm_raised": "raised",
    "alarm_cleared": "cleared",
    "alarm_acked": "acknowledged",
    "alarm_reset": "reset",
    "alarm_shelved": "shelved",
    "alarm_unshelved": "unshelved",
}
# Numbers in an alarm's detail that are in the channel's unit (shown with its decimals).
IN_UNIT = ("threshold", "average", "limit", "range_max", "rise")


def transition_line(t: Transition) -> str:
    """e.g. ``alarm raised tank1.lel:A1 level 2 value 38.44 %LEL threshold 25.00 (...)``."""
    alarm, spec = t.alarm, t.alarm.spec
    unit = f" {spec.unit}" if spec.unit else ""
    parts = [f"{spec.kind} {VERBS.get(t.kind, t.kind)} {spec.id} level {spec.level}"]
    if alarm.value is not None:
        parts.append(f"value {shown(alarm.value, spec.decimals)}{unit}")
    detail: dict[str, Any] = alarm.detail
    for key in IN_UNIT:
        if isinstance(detail.get(key), int | float):
            parts.append(f"{key} {shown(detail[key], spec.decimals)}{unit}")
    if detail.get("reasons"):
        parts.append("reasons " + ", ".join(detail["reasons"]))
    if detail.get("voting") is not None:
        parts.append(f"voting {','.join(detail['voting']) or '-'} (k = {detail.get('k')})")
    if "for_s" in detail:
        parts.append(f"for {detail['for_s']:.0f} s")
    extra = t.details
    if extra.get("who"):
        parts.append(f"by {extra['who']}")
    if extra.get("reason"):
        parts.append(f"reason {extra['reason']!r}")
    if extra.get("note"):
        parts.append(f"note {extra['note']!r}")
    if "until" in extra and alarm.shelved:
        parts.append(f"for {extra['until'] - alarm.shelved['at']:.0f} s")
    parts.append(f"({t.from_state} -> {alarm.state})")
    return " ".join(parts)


def log_transitions(transitions: list[Transition]) -> None:
    for t in transitions:
        level = logging.WARNING if t.kind == "alarm_raised" else logging.INFO
        if log.isEnabledFor(level):  # the line is built only when someone reads it
            # The record is made directly: log.log would walk the stack for the caller's file
            # and line, which no handler shows, once per transition of an alarm storm.
            log.handle(
                log.makeRecord(log.name, level, __file__, 0, "%s", (transition_line(t),), None)
            )


def log_silenced(who: str, seconds: float) -> None:
    log.info("buzzer silenced for %.0f s by %s", seconds, who)


def log_escalation(channel: str, offline_s: float) -> None:
    log.warning("maintenance escalation %s: offline for %.0f s", channel, offline_s)
