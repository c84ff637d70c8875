"""The per-camera analysis on scripted scenes: gating, zones, persistence, schedules, the
baselines (a flame is fire, a floodlight is not), snapshots linked to their detections."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pytest

from box.core.records import Detection, Reading, Snapshot
from sim.camera import Scene
from tests.conftest import REPO
from vision.config import VisionOptions
from vision.helmet import HelmetBaselineConfig, wears_helmet
from vision.persistence import Persistence
from vision.schedule import Schedule
from vision.zones import inside, zone_of

cv2 = pytest.importorskip("cv2")
RIGHT = {"yard": [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]}
LEFT = {"shed": [(0.0, 0.0), (0.3, 0.0), (0.3, 1.0), (0.0, 1.0)]}


@pytest.fixture(scope="module")
def detector():  # noqa: ANN201 - one model load for the module
    from vision.runner import TfliteDetector

    return TfliteDetector("person_ssd_mobilenetv2_oidv4")


def run(scene: str, frames: int, detector: Any = None, **opts: Any) -> tuple[Any, list[Any]]:
    from vision.pipeline import CameraPipeline

    p = CameraPipeline(VisionOptions(camera="gate", **opts), detector=detector)
    s = Scene(scene)
    out: list[Any] = []
    for i in range(frames):
        out += p.process(s.frame(i), 1_000_000 + i)
    return p, out


def values(out: list[Any], channel: str) -> list[float]:
    return [r.value for r in out if isinstance(r, Reading) and r.channel == channel]


def test_motion_gating_skips_the_model_on_a_static_scene(detector) -> None:  # noqa: ANN001
    p, out = run("empty", 40, detector)
    assert p.model_runs == 1 and p.gated == 39  # the first frame, then nothing moved
    assert set(values(out, "intrusion")) == {0.0}
    ungated, _ = run("empty", 10, detector, motion={"enabled": False})
    assert ungated.model_runs == 10


def test_a_person_entering_the_zone_raises_with_a_linked_snapshot(detector) -> None:  # noqa: ANN001
    p, out = run(
        "person", 45, detector, zones=RIGHT, intrusion={"enabled": True, "zones": ["yard"]}
    )
    assert max(values(out, "intrusion")) == 1.0
    (snap,) = [r for r in out if isinstance(r, Snapshot)]
    assert snap.channel == "gate.intrusion" and "person" in snap.labels and "yard" in snap.labels
    image = cv2.imdecode(
        __import__("numpy").frombuffer(base64.b64decode(snap.jpeg_b64), "uint8"), cv2.IMREAD_COLOR
    )
    assert image.shape[:2] == (snap.height, snap.width) == (360, 640)
    linked = [d for d in out if isinstance(d, Detection) and d.snapshot == snap.ref]
    assert linked and all(d.label == "person" and d.zone == "yard" for d in linked)


def test_a_person_outside_every_zone_is_no_intrusion(detector) -> None:  # noqa: ANN001
    _, out = run("person", 45, detector, zones=LEFT, intrusion={"enabled": True, "zones": ["shed"]})
    # The person walks through the left third (feet inside it briefly) and stops in the right
    # half; persistence needs 3 of 5 frames, so the passage may count, the standing may not.
    assert values(out, "intrusion")[-1] == 0.0


def test_the_intrusion_schedule_disarms_during_working_hours(detector) -> None:  # noqa: ANN001
    from vision.pipeline import CameraPipeline

    opts = VisionOptions(
        camera="gate",
        intrusion={"enabled": True, "schedule": {"hours": ["18:00", "07:00"]}},
    )
    noon = CameraPipeline(opts, detector=detector, clock=lambda: datetime(2026, 3, 2, 12, 0))
    night = CameraPipeline(opts, detector=detector, clock=lambda: datetime(2026, 3, 2, 23, 0))
    s = Scene("person")
    got: dict[str, list[Any]] = {"noon": [], "night": []}
    for i in range(40):
        f = s.frame(i)
        got["noon"] += noon.process(f, 1 + i)
        got["night"] += night.process(f, 1 + i)
    assert max(values(got["noon"], "intrusion")) == 0.0
    assert max(values(got["night"], "intrusion")) == 1.0


def test_flame_flicker_is_fire_and_a_floodlight_is_not() -> None:
    opts = {"intrusion": {"enabled": False}, "smoke_fire": {"enabled": True}}
    _, flame = run("flame", 40, **opts)
    _, flood = run("floodlight", 40, **opts)
    _, empty = run("empty", 40, **opts)
    assert max(values(flame, "smoke_fire")) >= 1.0
    assert any(isinstance(d, Detection) and d.label == "fire" for d in flame)
    assert max(values(flood, "smoke_fire")) == 0.0
    assert max(values(empty, "smoke_fire")) == 0.0


def test_the_helmet_baseline_tells_a_bare_head_from_a_hard_hat() -> None:
    img = cv2.imread(str(REPO / "tests/data/vision/astronaut.png"))
    person = (16 / 512, 15 / 512, 348 / 512, 495 / 512)  # as the person model finds her
    assert not wears_helmet(img, person, HelmetBaselineConfig())[0]
    cv2.ellipse(img, (222, 60), (85, 60), 0, 180, 360, (0, 210, 255), -1)  # a yellow dome
    assert wears_helmet(img, person, HelmetBaselineConfig())[0]


def test_persistence_needs_k_of_n_and_clears_after_m() -> None:
    p = Persistence(k=3, n=5, clear_after=4)
    seq = [True, False, True, False]
    assert [p.update(x) for x in seq] == [None] * 4
    assert p.update(True) == "raised"  # 3 of the last 5
    assert [p.update(False) for _ in range(3)] == [None] * 3
    assert p.update(True) is None and p.active  # one frame back resets the count
    assert [p.update(False) for _ in range(4)][-1] == "cleared"
    with pytest.raises(ValueError, match="between 1 and n"):
        Persistence(k=6, n=5)


def test_zones_use_the_feet_and_schedules_wrap_midnight() -> None:
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    assert inside((0.5, 0.5), square) and not inside((1.5, 0.5), square)
    # A box whose feet are outside the zone but whose head reaches in does not count.
    assert zone_of((0.4, 0.0, 0.2, 0.9), {"top": [(0, 0), (1, 0), (1, 0.5), (0, 0.5)]}) is None
    assert zone_of((0.4, 0.0, 0.2, 0.4), {"top": [(0, 0), (1, 0), (1, 0.5), (0, 0.5)]}) == "top"
    assert zone_of((0.4, 0.0, 0.2, 0.4), {}) == ""
    night = Schedule(days=["mon"], hours=("18:00", "07:00"))
    assert night.armed(datetime(2026, 3, 2, 19, 0))  # Monday evening
    assert night.armed(datetime(2026, 3, 3, 6, 0))  # Tuesday early: Monday's night
    assert not night.armed(datetime(2026, 3, 3, 19, 0))  # Tuesday evening
    assert not night.armed(datetime(2026, 3, 2, 12, 0))


def test_config_errors_name_the_zone() -> None:
    with pytest.raises(ValueError, match="zone 'nope' is not in"):
        VisionOptions(camera="c", intrusion={"enabled": True, "zones": ["nope"]})
    with pytest.raises(ValueError, match="outside 0..1"):
        VisionOptions(camera="c", zones={"z": [(0, 0), (2, 0), (1, 1)]})


def _plain(value: Any) -> bool:
    if isinstance(value, tuple | list):
        return all(_plain(v) for v in value)
    return type(value) in (int, float, str, bool, type(None)) or type(value).__module__ == (
        "box.core.records"
    )


def test_records_hold_only_plain_python_values(detector) -> None:  # noqa: ANN001
    """The parent unpickles only record classes: a numpy scalar in a box would be refused."""
    import dataclasses

    _, out = run(
        "person",
        40,
        detector,
        zones=RIGHT,
        helmet={"enabled": True},
        smoke_fire={"enabled": True},
        intrusion={"enabled": True, "zones": ["yard"]},
    )
    assert any(isinstance(r, Detection) for r in out)
    for r in out:
        for f in dataclasses.fields(r):
            assert _plain(getattr(r, f.name)), (type(r).__name__, f.name, getattr(r, f.name))


def test_the_motion_region_is_plain_floats_and_covers_the_change() -> None:
    import numpy as np

    from vision.motion import MotionConfig, MotionGate

    gate = MotionGate(MotionConfig())
    still = np.full((180, 320, 3), 100, np.uint8)
    gate.check(still)
    assert not gate.check(still).moved
    moved = still.copy()
    moved[90:130, 200:240] = 250
    m = gate.check(moved)
    assert m.moved and m.region is not None
    assert all(type(v) is float for v in m.region), [type(v) for v in m.region]
    x, y, w, h = m.region
    assert x <= 200 / 320 and x + w >= 240 / 320 and y <= 90 / 180 and y + h >= 130 / 180
    assert w * h < 0.3  # small: worth cropping


def test_falling_behind_the_budget_is_loud(detector, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    """A CPU too slow for the budget (here: the real model plus a 120 ms stall per frame, as on
    a loaded board) is reported: a warning and a load reading above 1."""
    import time

    from vision.pipeline import CameraPipeline

    class Stalled:
        backend, threads = detector.backend, 1

        def detect(self, rgb: Any) -> list[Any]:
            time.sleep(0.12)
            return detector.detect(rgb)

    opts = VisionOptions(
        camera="gate", fps_budget=10, report_every_s=0.1, motion={"enabled": False}
    )
    p = CameraPipeline(opts, detector=Stalled())
    s = Scene("empty")
    out: list[Any] = []
    with caplog.at_level("WARNING", logger="vision.pipeline"):
        for i in range(12):
            out += p.process(s.frame(i), 1 + i)
    assert p.behind and max(values(out, "load")) > 1.0
    assert "analysis behind its budget" in caplog.text and "frames are skipped" in caplog.text
