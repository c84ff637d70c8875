"""The things a newcomer and CI depend on: README's two commands, .ci/run, the systemd unit."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_readme_starts_with_the_two_commands() -> None:
    lines = [x for x in (REPO / "README.md").read_text().splitlines() if x.strip()]
    assert lines[0] == "# SafetyBox"
    assert lines[1] == "```sh"
    assert lines[2].startswith("make demo ") and lines[3].startswith("make test ")


def test_ci_runs_the_readme_test_command() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert "make test" in script and "set -euo pipefail" in script


def test_systemd_unit_is_notify_with_watchdog_and_hardening() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keep key case
    unit.read(REPO / "systemd" / "safetybox.service")
    svc = unit["Service"]
    assert svc["Type"] == "notify"
    assert int(svc["WatchdogSec"]) > 0
    assert svc["Restart"] == "always", "a safety daemon restarts whatever the exit"
    assert 1 <= int(svc["RestartSec"]) <= 10
    assert unit["Unit"]["StartLimitIntervalSec"] == "0", "never gives up restarting"
    assert svc["ProtectSystem"] == "strict" and svc["NoNewPrivileges"] == "yes"
    assert "/var/lib/safetybox" in svc["ReadWritePaths"]
    # A group the board lacks (gpio off Raspberry Pi OS) would stop the unit from starting;
    # the user's own groups apply anyway.
    assert "gpio" not in svc.get("SupplementaryGroups", "")
    assert svc["ExecReload"].endswith("-HUP $MAINPID")


def test_the_driver_entry_point_is_declared_in_setup_cfg() -> None:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "setup.cfg")
    eps = cfg["options.entry_points"]["safetybox.drivers"]
    assert "sim = drivers.simulated:SimDriver" in eps
    assert "safetybox = box.cli:main" in cfg["options.entry_points"]["console_scripts"]


def test_board_install_commands_work_with_and_without_a_gpio_group() -> None:
    readme = (REPO / "README.md").read_text()
    board = readme.split("## Running on a board", 1)[1]
    assert "--groups dialout,gpio" not in board, "useradd fails where no gpio group exists"
    assert "useradd --system --home /var/lib/safetybox --groups dialout safetybox" in board
    assert "getent group gpio" in board and "usermod -aG gpio safetybox" in board


def test_readme_says_how_to_expose_the_page_beyond_loopback() -> None:
    readme = (REPO / "README.md").read_text()
    assert 'listen = ["0.0.0.0:8080"]' in readme
    exposed = readme.split('listen = ["0.0.0.0:8080"]', 1)[1][:2500]
    assert "https = true" in exposed and "viewer" in exposed


def test_build_packages_templates_static_and_profiles_without_warnings(tmp_path: Path) -> None:
    """What a wheel gets (build_py), from a copy of the sources: the web page's templates and
    static files and the shipped Modbus profiles, with no setuptools warnings on the way."""
    src = tmp_path / "src"
    keep = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("box", "drivers", "sim", "firmware_tools"):
        shutil.copytree(REPO / folder, src / folder, ignore=keep)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "build_py", "-d", out],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "box.web.static" not in proc.stderr, proc.stderr
    for data in ("box/web/templates", "box/web/static", "drivers/modbus/profiles"):
        shipped = {p.name for p in (REPO / data).iterdir() if p.is_file()}
        built = {p.name for p in (out / data).iterdir()}
        assert shipped and shipped <= built, data
    # The vendored browser libraries with their licences, and the common-password list.
    for data in ("box/web/static/vendor", "box/web/data"):
        shipped = {p.relative_to(REPO) for p in (REPO / data).rglob("*") if p.is_file()}
        built = {p.relative_to(out) for p in (out / data).rglob("*") if p.is_file()}
        assert shipped and shipped <= built, (data, shipped - built)
