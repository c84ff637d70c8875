"""A muster: who was on site when it started, who reached which muster point and when.

The roll is everyone seen within ``present_within_s`` at the start. A person is accounted
for once a muster point's fence counts him in (already there at the start: accounted at once,
time to muster 0). The rest are reported with where they were last seen: still inside a zone,
or missing (on site, in no zone, or their tag lost)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Whereabouts = Callable[[str, float], dict[str, Any]]


@dataclass
class MusterRoll:
    started_at: float
    who: str
    reason: str
    names: dict[str, str]  # tag -> name, everyone on the roll
    accounted: dict[str, tuple[str, float]] = field(default_factory=dict)  # tag -> point, at
    complete_at: float | None = None

    def account(self, tag: str, point: str, now: float) -> bool:
        if tag not in self.names or tag in self.accounted:
            return False
        self.accounted[tag] = (point, now)
        if len(self.accounted) == len(self.names) and self.complete_at is None:
            self.complete_at = now
        return True

    def view(self, now: float, where: Whereabouts) -> dict[str, Any]:
        accounted: list[dict[str, Any]] = []
        inside: list[dict[str, Any]] = []
        missing: list[dict[str, Any]] = []
        for tag, name in sorted(self.names.items(), key=lambda kv: kv[1]):
            if tag in self.accounted:
                point, at = self.accounted[tag]
                accounted.append(
                    {
                        "tag": tag,
                        "person": name,
                        "point": point,
                        "time_to_muster_s": round(at - self.started_at, 1),
                    }
                )
                continue
            w = where(tag, now)
            row = {"tag": tag, "person": name, **w}
            (inside if w["zones"] and not w["lost"] else missing).append(row)
        return {
            "started_at": self.started_at,
            "started_by": self.who,
            "reason": self.reason,
            "elapsed_s": round(now - self.started_at, 1),
            "on_roll": len(self.names),
            "accounted": accounted,
            "inside": inside,
            "missing": missing,
            "complete": self.complete_at is not None,
            "time_to_muster_s": None
            if self.complete_at is None
            else round(self.complete_at - self.started_at, 1),
        }

    def report(self, now: float, where: Whereabouts) -> dict[str, Any]:
        """The roll at the end, kept as the muster's report (an event, hash-chained)."""
        v = self.view(now, where)
        times = [a["time_to_muster_s"] for a in v["accounted"]]
        v["ended_at"] = now
        v["summary"] = {
            "on_roll": v["on_roll"],
            "accounted": len(v["accounted"]),
            "unaccounted": len(v["inside"]) + len(v["missing"]),
            "median_time_to_muster_s": sorted(times)[len(times) // 2] if times else None,
            "max_time_to_muster_s": max(times) if times else None,
        }
        return v
