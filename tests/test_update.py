"""Signed offline updates end to end: two real versions of the box built as wheels here,
bundled and signed, installed into versioned environments, switched, health-checked against
a real daemon, and rolled back when the new version does not come up."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.update import bundle
from box.update.signing import UpdateRefused, load_public, new_key_pair
from tests.conftest import REPO, free_port, run_cli, sim_body, write_config

pytestmark = pytest.mark.slow


def _wheel(tmp: Path, version: str, broken: bool = False) -> Path:
    """A real wheel of this source tree at ``version`` (``broken``: its daemon cannot start)."""
    src = tmp / f"src-{version}"
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in files:
        if name.startswith(("tests/", "docs/", ".ci/")) or not (REPO / name).is_file():
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    init = src / "box" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    if broken:
        daemon = src / "box" / "runtime" / "daemon.py"
        daemon.write_text('raise RuntimeError("a broken release")\n' + daemon.read_text())
    out = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--disable-pip-version-check", "-w", str(out), str(src)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    return next(out.glob(f"safetybox-{version}-*.whl"))


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("releases")
    private, public = new_key_pair()
    (tmp / "release.key").write_bytes(private)
    (tmp / "release.pub").write_bytes(public)
    other_private, _ = new_key_pair()
    (tmp / "other.key").write_bytes(other_private)
    good, bad = _wheel(tmp, "0.2.0"), _wheel(tmp, "0.3.0", broken=True)
    bundle.build([good], tmp / "release.key", tmp / "good.sbx")
    bundle.build([bad], tmp / "release.key", tmp / "broken.sbx")
    bundle.build([good], tmp / "other.key", tmp / "foreign.sbx")
    return {"dir": tmp, "pub": tmp / "release.pub", "good": tmp / "good.sbx",
            "broken": tmp / "broken.sbx", "foreign": tmp / "foreign.sbx"}  # fmt: skip


def _tampered(src: Path, out: Path) -> Path:
    """The same bundle with one byte of its wheel changed (manifest and signature intact)."""
    with tarfile.open(src) as tar_in, tarfile.open(out, "w") as tar_out:
        for member in tar_in.getmembers():
            data = tar_in.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(".whl"):
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
            tar_out.addfile(member, io.BytesIO(data))
    return out


class Service:
    """What systemd does for the box: a restart script that runs ROOT/current/bin/safetybox."""

    def __init__(self, tmp: Path, home: Path, root: Path) -> None:
        self.pidfile = tmp / "box.pid"
        self.script = tmp / "restart.sh"
        self.script.write_text(
            "#!/bin/sh\n"
            f'if [ -f "{self.pidfile}" ]; then kill "$(cat {self.pidfile})" 2>/dev/null; '
            f'for i in $(seq 100); do kill -0 "$(cat {self.pidfile})" 2>/dev/null || break; '
            "sleep 0.1; done; fi\n"
            f'"{root}/current/bin/safetybox" --home "{home}" run >>"{tmp}/daemon.log" 2>&1 &\n'
            f'echo $! >"{self.pidfile}"\n'
        )
        self.script.chmod(0o755)

    def stop(self) -> None:
        if self.pidfile.exists():
            pid = int(self.pidfile.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Path, Path, Service]]:
    home, root = tmp_path / "box", tmp_path / "opt"
    run_cli(home, "init")
    write_config(home, sim_body(), port=free_port())
    os.environ.pop("PYTHONPATH", None)  # the versions' own code must run, not this tree's
    svc = Service(tmp_path, home, root)
    yield home, root, svc
    svc.stop()


def test_install_switch_refusals_and_rollback(releases, service, monkeypatch) -> None:  # noqa: ANN001
    home, root, svc = service
    monkeypatch.delenv("PYTHONPATH", raising=False)
    no_key = run_cli(home, "update", "apply", str(releases["good"]), "--root", str(root),
                     check=False)  # fmt: skip
    assert no_key.exit_code == 1 and "no trusted update key" in no_key.output
    run_cli(home, "update", "trust", str(releases["pub"]))
    apply = ["update", "apply", "--root", str(root), "--restart-command", str(svc.script)]

    foreign = run_cli(home, *apply, "--timeout", "30", str(releases["foreign"]), check=False)
    assert foreign.exit_code == 1 and "signature does not match" in foreign.output
    tampered = _tampered(releases["good"], releases["dir"] / "tampered.sbx")
    bad = run_cli(home, *apply, str(tampered), check=False)
    assert bad.exit_code == 1 and "does not match its size and SHA-256" in bad.output
    assert not (root / "versions").exists() or not any((root / "versions").iterdir())

    out = run_cli(home, *apply, "--timeout", "60", str(releases["good"])).output
    assert "verified good.sbx: safetybox 0.2.0" in out and "updated to 0.2.0: healthy" in out
    assert (root / "current").resolve() == (root / "versions" / "0.2.0").resolve()
    again = run_cli(home, *apply, str(releases["good"]), check=False)
    assert again.exit_code == 1 and "not newer than the installed 0.2.0" in again.output

    broken = run_cli(home, *apply, "--timeout", "15", str(releases["broken"]), check=False)
    assert broken.exit_code == 1, broken.output
    assert "0.3.0 did not report healthy within 15 s" in broken.output
    assert "rolled back to 0.2.0 (healthy again)" in broken.output
    assert (root / "current").resolve() == (root / "versions" / "0.2.0").resolve()
    status = run_cli(home, "update", "status", "--root", str(root)).output
    assert "installed: ['0.2.0', '0.3.0']" in status


def test_bundles_that_are_not_bundles_are_refused_with_a_reason(tmp_path: Path) -> None:
    private, public = new_key_pair()
    (tmp_path / "k").write_bytes(private)
    trusted = load_public(public, "k.pub")
    junk = tmp_path / "junk.sbx"
    junk.write_bytes(b"not a tar at all")
    with pytest.raises(UpdateRefused, match="not a readable bundle"):
        bundle.read(junk, trusted, tmp_path / "out")
    evil = tmp_path / "evil.sbx"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        tar.addfile(info)
        link = tarfile.TarInfo("manifest.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tar.addfile(link)
    with pytest.raises(UpdateRefused, match="non-file entry"):
        bundle.read(evil, trusted, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing written from a refused bundle"
