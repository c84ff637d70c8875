"""The camera example in docs/VISION.md is a valid config (docs that stand alone must work)."""

from __future__ import annotations

import re

from box.config.loader import parse_config
from drivers.base import DriverRegistry
from drivers.simulated import SimDriver
from tests.conftest import REPO
from vision.driver import CameraDriver


def test_the_documented_camera_config_parses() -> None:
    text = (REPO / "docs" / "VISION.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block
    registry = DriverRegistry(drivers={"sim": SimDriver, "camera": CameraDriver})
    config = parse_config("config_version = 1\n" + block.group(1), "VISION.md", registry)
    (cam,) = config.drivers
    opts = cam.options()  # type: ignore[attr-defined]
    assert opts.enabled() == ["intrusion", "helmet", "smoke_fire"]
    assert opts.intrusion.schedule.hours == ("18:00", "07:00")
    assert set(cam.channel_ids()) == {c.id for c in config.channels}


def test_a_missing_model_is_a_config_error_naming_the_key() -> None:
    import pytest

    from box.core.errors import ConfigError

    registry = DriverRegistry(drivers={"sim": SimDriver, "camera": CameraDriver})
    text = """config_version = 1
[[channels]]
id = "c.intrusion"
kind = "other"
unit = "persons"
[[channels]]
id = "c.load"
kind = "other"
unit = "ratio"
safety = false
[[drivers]]
type = "camera"
name = "c"
url = "/dev/video0"
model = "no_such_model"
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text, "box.toml", registry)
    assert "drivers" in str(err.value) and "no_such_model.toml" in str(err.value)


def test_the_camera_driver_and_its_config_do_not_import_the_image_stack() -> None:
    """Every CLI command and the daemon load the driver registry; numpy, OpenCV and the
    interpreter are imported only where a camera runs (its worker and capture)."""
    import subprocess
    import sys

    code = (
        "import sys, vision.driver, vision.fusion, box.web.camera_pages\n"
        "print(sorted(m for m in ('numpy', 'cv2', 'ai_edge_litert') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]", out.stdout
