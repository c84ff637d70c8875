"""The alarms of people and zones: stable ids, names that say who and where, default levels.

Ids: ``person:<tag>:<what>[:<zone or gas>]`` and ``zone:<zone>:<what>``; sources
``person:<tag>`` and ``zone:<zone>`` (what a relay's ``channels`` list may name). An alarm
tied to a zone carries the zone id, so a relay with ``zones = [<zone>]`` (the zone's beacon)
follows it."""

from __future__ import annotations

from dataclasses import dataclass

from box.alarms.alarm import AlarmSpec

# what: (level, latching, kind, shelvable)
DEFAULTS: dict[str, tuple[int, bool, str, bool]] = {
    "sos": (1, True, "alarm", False),
    "man_down": (1, True, "alarm", True),
    "man_down_pre": (3, False, "alarm", True),
    "lost": (3, False, "fault", True),
    "battery": (4, False, "alarm", True),
    "unauthorised": (2, False, "alarm", True),
    "approach": (3, False, "alarm", True),
    "overstay": (2, False, "alarm", True),
    "stel": (2, False, "alarm", True),
    "twa": (2, False, "alarm", True),
    "headcount": (2, False, "alarm", True),
    "unattended": (3, False, "alarm", True),
    "no_attendant": (2, False, "alarm", True),
}
PERSON_WHATS = (
    "sos",
    "man_down",
    "man_down_pre",
    "lost",
    "battery",
    "unauthorised",
    "approach",
    "overstay",
    "stel",
    "twa",
)
ZONE_WHATS = ("headcount", "unattended", "no_attendant")
NAMES = {
    "sos": "SOS: {person}",
    "man_down": "man down: {person}",
    "man_down_pre": "no movement (pre-alarm): {person}",
    "lost": "tag lost: {person}",
    "battery": "tag battery low: {person}",
    "unauthorised": "{person} in {zone} without authorisation",
    "approach": "{person} approaching danger zone {zone}",
    "overstay": "{person} overstaying in {zone}",
    "stel": "{person}: personal STEL exceeded ({gas})",
    "twa": "{person}: personal TWA exceeded ({gas})",
    "headcount": "too many people in {zone}",
    "unattended": "key post {zone} unattended",
    "no_attendant": "confined space {zone}: no attendant outside",
}


@dataclass(frozen=True)
class AlarmId:
    scope: str  # person | zone
    key: str  # tag or zone id
    what: str
    arg: str = ""  # zone or gas of a person's alarm

    @property
    def id(self) -> str:
        return f"{self.scope}:{self.key}:{self.what}" + (f":{self.arg}" if self.arg else "")

    @classmethod
    def parse(cls, alarm_id: str) -> AlarmId | None:
        """The parts of one of our ids (tags and zone ids hold no colon); None otherwise."""
        parts = alarm_id.split(":")
        if len(parts) not in (3, 4) or parts[0] not in ("person", "zone"):
            return None
        whats = PERSON_WHATS if parts[0] == "person" else ZONE_WHATS
        if parts[2] not in whats:
            return None
        return cls(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else "")

    def spec(
        self,
        name: str,
        level: int | None = None,
        zone: str = "",
        on_delay_s: float = 0.0,
        latching: bool | None = None,
    ) -> AlarmSpec:
        lv, latch, kind, shelvable = DEFAULTS[self.what]
        return AlarmSpec(
            self.id,
            f"{self.scope}:{self.key}",
            name,
            level if level is not None else lv,
            latch if latching is None else latching,
            kind,
            on_delay_s,
            0.0,
            zone,
            shelvable=shelvable,
        )
