"""Shared fixtures: box homes on disk, free loopback ports, daemons as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from box.cli import main
from box.keys import STORE_KEY, FileKeyProvider
from box.paths import BoxHome
from box.store.database import connect

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(home: Path | None, *args: str, check: bool = True) -> object:
    runner = CliRunner()
    argv = (["--home", str(home)] if home else []) + list(args)
    result = runner.invoke(main, argv, catch_exceptions=False)
    if check and result.exit_code != 0:
        raise AssertionError(f"safetybox {' '.join(argv)} -> {result.exit_code}\n{result.output}")
    return result


def write_config(home: Path, body: str, port: int | None = None) -> None:
    """A config with the given channels/drivers body and the web API on a free port."""
    port = port or free_port()
    text = f'config_version = 1\n[web]\nlisten = ["127.0.0.1:{port}"]\n' + body
    (home / "box.toml").write_text(text, encoding="utf-8")


SIM_BODY = """
[store]
commit_interval_ms = 5
maintenance_interval_s = 3600

[outputs]
pin_factory = "mock"
buzzer = {{ pin = 17 }}
tower = {{ red = {{ pin = 22 }}, yellow = {{ pin = 23 }}, green = {{ pin = 24 }} }}

[[outputs.relays]]
name = "valve"
pin = 5
fail_safe = true
max_level = 1

[[channels]]
id = "t1.lel"
kind = "gas_lel"
unit = "%LEL"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25.0, level = 2 }}, {{ name = "A2", at = 50.0, level = 1 }}]
deadband = 2.0

[[channels]]
id = "t1.temp"
kind = "temperature"
unit = "°C"
safety = false

[[drivers]]
type = "sim"
name = "sim1"
interval_s = {interval}

[[drivers.points]]
channel = "t1.lel"
waveform = {{ shape = "step", before = 5.0, after = 40.0, at_s = {step_at}, \
back_at_s = {step_back} }}

[[drivers.points]]
channel = "t1.temp"
waveform = {{ shape = "sine", mean = 20.0, amplitude = 5.0, period_s = 10 }}
"""


def sim_body(interval: float = 0.05, step_at: float = 0.5, step_back: float = 1.5) -> str:
    return SIM_BODY.format(interval=interval, step_at=step_at, step_back=step_back)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised box home (keys, box id, demo config) in a temp folder."""
    path = tmp_path / "box"
    run_cli(path, "init")
    return path


@pytest.fixture
def box_home(home: Path) -> BoxHome:
    return BoxHome.under(home)


def open_reader(home: Path):  # noqa: ANN201
    bh = BoxHome.under(home)
    return connect(bh.database_file, FileKeyProvider(bh.keys_dir).get(STORE_KEY), readonly=True)


def get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read())


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition"):  # noqa: ANN201
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last_exc = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last error: {last_exc!r}")


class DaemonProcess:
    """``safetybox run`` as a real subprocess; always stopped by the fixture that made it."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.log = home / "daemon.log"
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "box", "--home", str(home), "run"],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )

    @property
    def url(self) -> str:
        import tomllib

        listen = tomllib.loads((self.home / "box.toml").read_text())["web"]["listen"][0]
        return f"http://{listen}"

    def status(self) -> dict:
        return get_json(self.url + "/api/status")

    def wait_ready(self, timeout: float = 20.0) -> dict:
        def ready() -> dict | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.output()}")
            return self.status()

        return wait_for(ready, timeout, "daemon status endpoint")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()
        return self.proc.returncode


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(home: Path, env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(home, env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves threads running (workers must always be stopped)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {[t.name for t in leaked]}")


def png_bytes(width: int = 240, height: int = 150) -> bytes:
    """A small real PNG (a light grid) for site-plan uploads, without an image library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00"
        + b"".join(
            b"\xcc\xcc\xcc" if (x % 40 == 0 or y % 40 == 0) else b"\xf4\xf4\xf0"
            for x in range(width)
        )
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
