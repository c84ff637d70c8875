"""A site plan for the positioning tests, and a harness feeding positions at chosen times."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from box.core.records import Position, Reading
from tests.alarm_harness import T0, Box

PLAN = """
[[outputs.relays]]
name = "reactor_beacon"
pin = 13
zones = ["reactor"]
max_level = 2

[[channels]]
id = "reactor.h2s"
kind = "gas_ppm"
unit = "ppm"
range = [0, 100]
alarms.stale_after_s = 100

[[positioning]]
id = "site"
margin_m = 0.5
min_dwell_s = 2
lost_after_s = 30
battery_low_pct = 20
man_down = { radius_m = 1.0, pre_alarm_s = 30, alarm_s = 60 }

[[positioning.zones]]
id = "reactor"
name = "Reactor hall"
type = "restricted"
polygon = [[0, 0], [10, 0], [10, 10], [0, 10]]
channels = ["reactor.h2s"]
cameras = ["cam1"]
outputs = ["reactor_beacon"]
max_people = 2

[[positioning.zones]]
id = "pit"
type = "danger"
approach_m = 3
polygon = [[20, 0], [24, 0], [24, 4], [20, 4]]

[[positioning.zones]]
id = "tank"
type = "confined_space"
polygon = [[30, 0], [34, 0], [34, 4], [30, 4]]
max_stay_s = 600
attendant_zone = "manhole"

[[positioning.zones]]
id = "manhole"
polygon = [[30, 4], [34, 4], [34, 8], [30, 8]]

[[positioning.zones]]
id = "control"
polygon = [[50, 0], [60, 0], [60, 10], [50, 10]]
key_post_s = 900
post_roles = ["operator"]

[[positioning.zones]]
id = "gate"
type = "muster_point"
polygon = [[-20, -20], [-10, -20], [-10, -10], [-20, -10]]

[[positioning.people]]
tag = "t1"
name = "Li Wei"
role = "fitter"
zones = ["reactor", "tank"]

[[positioning.people]]
tag = "t2"
name = "Zhang San"
role = "operator"

[[positioning.people]]
tag = "t3"
name = "Wang Fang"
role = "attendant"

[[positioning.exposure]]
gas = "h2s"
channels = ["reactor.h2s"]
stel = 10
twa = 5
"""


OPEN: list[Box] = []


@pytest.fixture(autouse=True)
def close_boxes() -> Iterator[None]:
    """Every box a test made releases its pins (blinking lamps run in threads)."""
    yield
    while OPEN:
        OPEN.pop().close()


class PeopleBox(Box):
    def __init__(self, extra: str = "", saved: dict[str, str] | None = None) -> None:
        super().__init__(PLAN + extra, saved)
        OPEN.append(self)

    def pos(self, t: float, tag: str, x: float, y: float, **kw: Any) -> PeopleBox:
        self.clock.t = T0 + t
        self.engine.process_records([Position(tag, int((T0 + t) * 1000), x, y, **kw)])
        self.engine.tick()
        return self

    def gas(self, t: float, channel: str, value: float) -> PeopleBox:
        self.clock.t = T0 + t
        r = Reading(channel, int((T0 + t) * 1000), value)
        self.engine.process([r])
        self.engine.live[channel] = r  # the pipeline keeps the live values
        self.engine.tick()
        return self

    def walk(
        self,
        t0: float,
        t1: float,
        tag: str,
        xy0: tuple[float, float],
        xy1: tuple[float, float],
        step: float = 1.0,
    ) -> PeopleBox:
        n = max(1, round((t1 - t0) / step))
        for k in range(n + 1):
            f = k / n
            self.pos(
                t0 + f * (t1 - t0),
                tag,
                xy0[0] + f * (xy1[0] - xy0[0]),
                xy0[1] + f * (xy1[1] - xy0[1]),
            )
        return self

    def state_of(self, alarm_id: str) -> str:
        """Person alarms exist from their first need: one not made yet is normal."""
        alarm = self.engine.alarms.get(alarm_id)
        return "normal" if alarm is None else str(alarm.state)

    def cmd(self, action: str, **args: Any) -> Any:
        return self.engine.site_command("positioning", action, args)

    def people_events(self, kind: str) -> list[dict[str, Any]]:
        return [e.details | {"source": e.source} for e in self.events if e.kind == kind]

    def raised(self) -> list[str]:
        return [e.details["alarm"] for e in self.events if e.kind == "alarm_raised"]
