"""Fence hysteresis as a property: whatever the walk, a zone is entered only after the tag was
inside it for the dwell time, and left only after it was the margin outside for the dwell."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.people_harness import PeopleBox, close_boxes  # noqa: F401 - autouse fixture

EDGE = 10.0  # the reactor hall's east fence: inside for x < 10
MARGIN, DWELL = 0.5, 2.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 1.5), st.floats(8.0, 12.0)), min_size=1, max_size=60))
def test_zone_changes_only_after_holding_for_the_dwell(steps: list[tuple[float, float]]) -> None:
    b = PeopleBox()
    try:
        t = 0.0
        walk: list[tuple[float, float]] = []
        for dt, x in steps:
            b.pos(t, "t1", x, 5.0)  # t1 is authorised: only the fence events matter here
            walk.append((t, x))
            t += dt
        b.at(t)
        changes = [
            (round(e.ts_ms / 1000 - 1_780_000_000, 6), e.kind)
            for e in b.events
            if e.kind in ("zone_entered", "zone_left")
        ]
        inside = False
        for at, kind in changes:
            assert kind == ("zone_left" if inside else "zone_entered"), changes
            held = _held(
                walk, at, lambda x, inside=inside: x >= EDGE + MARGIN if inside else x <= EDGE
            )
            assert held >= DWELL - 1e-6, (at, kind, walk)
            inside = not inside
    finally:
        b.close()


def _held(walk: list[tuple[float, float]], at: float, cond) -> float:  # noqa: ANN001
    """How long before ``at`` the positions satisfied ``cond`` without a break."""
    since = at
    for t, x in reversed([w for w in walk if w[0] <= at + 1e-9]):
        if not cond(x):
            break
        since = t
    return at - since
