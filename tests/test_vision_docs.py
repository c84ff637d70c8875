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


def test_every_camera_and_fusion_key_has_a_chinese_name() -> None:
    """As the config forms require of every key (tests/test_config_forms.py), for the camera
    driver as an installed package registers it."""
    from box.config.form import Schema
    from box.config.schema import config_json_schema
    from box.web.field_names import ZH
    from drivers.base import default_registry

    registry = DriverRegistry(drivers={**default_registry().drivers, "camera": CameraDriver})
    schema = Schema(config_json_schema(registry))
    keys = set(schema.root["properties"])
    for node in schema.defs.values():
        keys |= {k for k, p in node.get("properties", {}).items() if "x-zh" not in p}
    assert keys <= set(ZH), f"no Chinese name for {sorted(keys - set(ZH))}"
