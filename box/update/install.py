"""Versioned environments under an install root, an atomic switch, and rollback.

Layout (default root ``/opt/safetybox``; the systemd unit runs ``current/bin/safetybox``)::

    base      -> the environment the box was first installed in (all dependencies)
    versions/<version>/   one Python environment per installed version
    current   -> the version that runs          previous -> the one before

A version's environment is a fresh venv layered on ``base`` (a ``.pth`` line puts base's
site-packages after its own): the bundle's wheels are installed into it, offline, with pip's
resolver seeing base's packages as already there. So a bundle carries the box's wheel and any
dependency that changed, and nothing is downloaded. ``current`` is switched with one
``rename`` of a symlink, so a power cut leaves either the old or the new version, never half.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from box.update.signing import UpdateRefused

DEFAULT_ROOT = Path("/opt/safetybox")
COMPLETE = ".safetybox-complete"  # written last: the environment is whole


@dataclass(frozen=True)
class Root:
    path: Path

    @property
    def versions(self) -> Path:
        return self.path / "versions"

    @property
    def current(self) -> Path:
        return self.path / "current"

    @property
    def previous(self) -> Path:
        return self.path / "previous"

    @property
    def base(self) -> Path:
        return self.path / "base"

    def ensure_base(self) -> Path:
        """The base environment: recorded once, the first time an update is installed (the
        environment this command runs in, unless that is itself a versioned one)."""
        if not self.base.is_symlink():
            self.path.mkdir(parents=True, exist_ok=True)
            prefix = Path(sys.prefix).resolve()
            if self.versions.resolve() in prefix.parents:
                raise UpdateRefused(f"{self.base} is missing: cannot tell the base environment")
            _switch(self.base, prefix)
            if not self.current.is_symlink():
                _switch(self.current, prefix)
        return self.base.resolve()


def _switch(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def running_version(env: Path) -> Version | None:
    """The box version installed in environment ``env`` (None if it has none)."""
    python = env / "bin" / "python"
    try:
        out = subprocess.run(
            # -I: this environment's own packages only (not the caller's folder or PYTHONPATH)
            [str(python), "-I", "-c", "import box; print(box.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        return Version(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _site(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def install_version(root: Root, version: Version, wheels: Path, log: Callable[[str], None]) -> Path:
    """A new environment for ``version`` with ``wheels`` installed offline; returns its path."""
    base = root.ensure_base()
    # Built at its final path: pip writes that path into the scripts' #! lines. It counts as
    # installed only once COMPLETE exists, so a power cut mid-install leaves no usable half.
    target = root.versions / str(version)
    if root.current.resolve() == target.resolve():
        raise UpdateRefused(f"{version} is the running version")
    shutil.rmtree(target, ignore_errors=True)
    root.versions.mkdir(parents=True, exist_ok=True)
    log(f"creating the environment for {version}")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=300
    )
    (_site(target) / "_safetybox_base.pth").write_text(f"{_site(base)}\n", encoding="utf-8")
    log(f"installing {len(list(wheels.glob('*.whl')))} wheels offline")
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"),
            "install", "--no-index", "--find-links", str(wheels), "--no-warn-script-location",
            "--disable-pip-version-check", "--quiet", f"safetybox=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise UpdateRefused(f"installing {version} failed: {' '.join(detail)}")
    (target / COMPLETE).write_text(f"{version}\n", encoding="utf-8")
    _fsync_dir(target)
    _fsync_dir(root.versions)
    return target


def switch_to(root: Root, target: Path) -> Path:
    """Make ``target`` current; returns what was current before."""
    before = root.current.resolve()
    _switch(root.previous, before)
    _switch(root.current, target)
    return before


def wait_healthy(check: Callable[[], str | None], timeout_s: float, poll_s: float = 1.0) -> str:
    """Poll ``check`` (None when healthy, else why not) until healthy or the timeout; returns
    "" when healthy, else the last reason."""
    deadline = time.monotonic() + timeout_s
    reason = "no answer yet"
    while time.monotonic() < deadline:
        why = check()
        if why is None:
            return ""
        reason = why
        time.sleep(poll_s)
    return reason
