"""What the buzzer, tower light and relays should do, given the alarms (a pure function).

Follows GB 16808: red for alarms, flashing (>= 1 Hz) while unacknowledged; yellow for faults
and shelved alarms, flashing (>= 0.2 Hz) while unacknowledged; green when all is healthy.
Buzzer: continuous for level 1, intermittent for level 2, a short chirp for faults and lower
levels; only for unacknowledged alarms whose condition is present, and not while silenced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from box.alarms.alarm import ACTIVE, UNACKED, Alarm, State
from box.alarms.config import Relay

OFF, ON = "off", "on"
BLINK_FAST, BLINK_SLOW = "blink_fast", "blink_slow"  # 2 Hz (alarm) and 0.5 Hz (fault)
CONTINUOUS, INTERMITTENT, CHIRP = "continuous", "intermittent", "chirp"


@dataclass(frozen=True)
class Annunciation:
    buzzer: str = OFF
    red: str = OFF
    yellow: str = OFF
    green: str = ON
    relays: dict[str, bool] = field(default_factory=dict)  # name -> alarm action active
    fault: bool = False  # the fault relay's alarm action


LAMP_TEST = Annunciation(buzzer=CONTINUOUS, red=ON, yellow=ON, green=ON)


def annunciate(alarms: Iterable[Alarm], relays: list[Relay], silenced: bool) -> Annunciation:
    alarms = list(alarms)
    # Any shelved alarm lights yellow, even while normal: that point cannot sound (GB 16808's
    # yellow shield indicator), so reduced coverage must be visible.
    shelved = any(a.shelved is not None for a in alarms)
    visible = [a for a in alarms if a.state != State.NORMAL]
    live = [a for a in visible if a.shelved is None]
    process = [a for a in live if a.spec.kind == "alarm"]
    faults = [a for a in live if a.spec.kind == "fault"]
    # Not ready (warm-up, calibration, inhibited at the device): reduced coverage, by design.
    inhibited = any(a.spec.kind == "inhibit" for a in live)

    buzzer = OFF
    sounding = [a for a in live if a.state == State.ACTIVE_UNACK and a.spec.kind != "inhibit"]
    if sounding and not silenced:
        worst = min(a.spec.level if a.spec.kind == "alarm" else 9 for a in sounding)
        buzzer = CONTINUOUS if worst == 1 else INTERMITTENT if worst == 2 else CHIRP

    red = BLINK_FAST if any(a.state in UNACKED for a in process) else ON if process else OFF
    if any(a.state in UNACKED for a in faults):
        yellow = BLINK_SLOW
    elif faults or shelved or inhibited:
        yellow = ON
    else:
        yellow = OFF
    green = ON if not live else OFF
    return Annunciation(
        buzzer=buzzer,
        red=red,
        yellow=yellow,
        green=green,
        relays={r.name: any(_drives(a, r) for a in process) for r in relays},
        fault=bool(faults),
    )


def _drives(alarm: Alarm, relay: Relay) -> bool:
    """Relays follow the alarm while it is active, and while a latching alarm awaits reset."""
    s = alarm.spec
    if s.level > relay.max_level:
        return False
    if relay.channels and s.source not in relay.channels:
        return False
    if relay.zones and s.zone not in relay.zones:
        return False
    return alarm.state in ACTIVE or s.latching
