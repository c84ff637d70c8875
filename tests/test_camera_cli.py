"""``safetybox cameras list|snapshot|test`` against a simulated camera on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from box.core import plugins
from sim.camera import MjpegServer, Scene
from tests.conftest import run_cli, write_config

pytest.importorskip("cv2")


@pytest.fixture
def camera_driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The camera driver's entry point as an installed package would have it."""
    import drivers.base

    installed = plugins.entry_points
    ep = EntryPoint("camera", "vision.driver:CameraDriver", plugins.DRIVERS)

    def eps(group: str) -> list[EntryPoint]:
        found = list(installed(group=group))
        return found + [ep] if group == plugins.DRIVERS else found

    monkeypatch.setattr(plugins, "entry_points", eps)
    monkeypatch.setattr(drivers.base, "_default", None)
    yield
    drivers.base._default = None


@pytest.fixture
def server() -> Iterator[MjpegServer]:
    s = MjpegServer(Scene("person", start_frame=0).frame, fps=10).start()
    yield s
    s.stop()


def test_list_snapshot_and_test(
    home: Path, camera_driver: None, server: MjpegServer, tmp_path: Path
) -> None:
    write_config(
        home,
        f"""
[[channels]]
id = "gate.intrusion"
kind = "other"
unit = "persons"
[[channels]]
id = "gate.load"
kind = "other"
unit = "ratio"
safety = false

[[drivers]]
type = "camera"
name = "gate"
url = "{server.url}"
""",
    )
    out = json.loads(run_cli(home, "cameras", "list", "--json").output)
    (cam,) = out["cameras"]
    assert cam["name"] == "gate" and cam["kind"] == "http" and cam["detectors"] == ["intrusion"]
    assert "gate" in run_cli(home, "cameras", "list").output

    jpg = tmp_path / "gate.jpg"
    run_cli(home, "cameras", "snapshot", "gate", "-o", str(jpg))
    assert jpg.read_bytes()[:2] == b"\xff\xd8"
    again = run_cli(home, "cameras", "snapshot", "gate", "-o", str(jpg), check=False)
    assert again.exit_code != 0 and "--force" in again.output

    result = json.loads(run_cli(home, "cameras", "test", "gate", "--frames", "12", "--json").output)
    assert result["frames"] == 12 and result["backend"] == "ai-edge-litert"
    assert result["detections"].get("person", 0) >= 1

    missing = run_cli(home, "cameras", "test", "nope", check=False)
    assert missing.exit_code != 0 and "no camera 'nope'" in missing.output
