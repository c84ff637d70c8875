"""``bench memory``: the daemon's memory with the demo config, and where it goes.

A demo home in a temporary folder (free ports instead of 8080/15020), the demo's Modbus
simulators, then the daemon as a real process (``safetybox --home H run``): once it says READY
(systemd's notify protocol) and has settled, its RSS, PSS and USS are read from /proc. A second,
shorter run with tracemalloc on gives the largest Python allocations (tracing itself costs
memory, so the figures come from the plain run), and a fresh interpreter imports the modules
the daemon had loaded, charging each one the RSS its own code added: the import costs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from box.bench import Step, quiet

PHASES = ("demo home", "daemon settling", "allocations", "import costs")
PROBE = [sys.executable, "-m", "box.bench.memory_probe"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    # This checkout first, also in the child processes (a source tree run without install).
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def demo_home(root: Path) -> tuple[Path, int]:
    """``init --demo`` in ``root``/box, moved to free ports; (home, Modbus TCP port)."""
    home = root / "box"
    subprocess.run(
        [sys.executable, "-m", "box", "--home", str(home), "init", "--demo", "--json"],
        check=True,
        capture_output=True,
        env=_env(),
        timeout=60,
    )
    config = home / "box.toml"
    text = config.read_text(encoding="utf-8")
    tcp_port = _free_port()
    text = text.replace('"127.0.0.1:8080"', f'"127.0.0.1:{_free_port()}"')
    text, n = re.subn(r"tcp_port = 15020", f"tcp_port = {tcp_port}", text)
    if n != 1:
        raise RuntimeError("the demo config no longer has its Modbus TCP device on 15020")
    config.write_text(text, encoding="utf-8")
    return home, tcp_port


@contextmanager
def simulators(home: Path, tcp_port: int) -> Iterator[None]:
    """The demo's field devices, as scripts/demo starts them."""
    sim = [sys.executable, "-m", "box", "sim", "modbus"]
    commands = [
        sim
        + ["--profile", "generic-gas-probe", "--profile", "generic-gas-probe"]
        + ["--profile", "temperature-transmitter", "--profile", "ai4-4-20ma"]
        + ["--units", "1,2,3,4", "--pty", "--link", str(home / "ttyRS485"), "--base", "12"],
        sim + ["--profile", "midas-float", "--units", "1", "--tcp", str(tcp_port)],
    ]
    procs = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        for c in commands
    ]
    try:
        deadline = time.monotonic() + 20
        while not (home / "ttyRS485").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


class DaemonRun:
    """The daemon under the probe, with a notify socket to know when it is ready."""

    def __init__(self, home: Path, workdir: Path, trace: bool = False) -> None:
        self.report = workdir / ("trace.json" if trace else "modules.json")
        self.report.unlink(missing_ok=True)
        self._sock_path = workdir / "notify.sock"
        self._sock_path.unlink(missing_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self._sock_path))
        env = {**_env(), "NOTIFY_SOCKET": str(self._sock_path)}
        if trace:
            env["PYTHONTRACEMALLOC"] = "1"
        self.log = (workdir / "daemon.log").open("ab")
        self.proc = subprocess.Popen(
            [*PROBE, "run", str(self.report), "--home", str(home), "run"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode}")
            self._sock.settimeout(0.5)
            try:
                message = self._sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            if "READY=1" in message.split("\n"):
                return
        raise RuntimeError(f"the daemon was not ready within {timeout:.0f} s")

    def memory(self) -> dict[str, float]:
        """VmRSS and VmHWM, and from smaps_rollup (where the kernel has it) PSS and USS, MiB."""
        out: dict[str, float] = {}
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for key in ("VmRSS", "VmHWM"):
            m = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
            if m:
                out[key] = int(m.group(1)) / 1024
        try:
            rollup = Path(f"/proc/{self.proc.pid}/smaps_rollup").read_text()
        except OSError:
            return out
        fields = {k: int(v) / 1024 for k, v in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)}
        if "Pss" in fields:
            out["Pss"] = fields["Pss"]
        if "Private_Clean" in fields and "Private_Dirty" in fields:
            out["Uss"] = fields["Private_Clean"] + fields["Private_Dirty"]
        return out

    def probe(self, timeout: float = 30.0) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.report.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the daemon wrote no module report")
            time.sleep(0.05)
        result: dict[str, Any] = json.loads(self.report.read_text(encoding="utf-8"))
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._sock.close()
        self.log.close()


def group_of(module: str) -> str:
    """Costs are summed per package; the box's own per subpackage (box.web, drivers.modbus)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("box", "drivers", "sim") else parts[0]


def import_costs(workdir: Path, modules: list[str], top: int = 15) -> dict[str, Any]:
    out = workdir / "imports.json"
    subprocess.run(
        [*PROBE, "imports", str(out), *modules],
        check=True,
        capture_output=True,
        env=_env(),
        timeout=120,
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    groups: dict[str, int] = {}
    for name, kib in report["costs_kib"].items():
        groups[group_of(name)] = groups.get(group_of(name), 0) + kib
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])[:top]
    return {
        "interpreter_mib": round(report["start_kib"] / 1024, 1),
        "after_imports_mib": round(report["end_kib"] / 1024, 1),
        "top_modules": [{"module": m, "mib": round(k / 1024, 2)} for m, k in ranked],
        "failed_imports": report["failed"],
    }


def run(settle_s: float = 15.0, step: Step = quiet) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-memory-") as tmp:
        workdir = Path(tmp)
        step(PHASES[0])
        home, tcp_port = demo_home(workdir)
        with simulators(home, tcp_port):
            step(PHASES[1])
            daemon = DaemonRun(home, workdir)
            try:
                daemon.wait_ready()
                ready = daemon.memory()
                time.sleep(settle_s)
                settled = daemon.memory()
                modules = daemon.probe()["modules"]
            finally:
                daemon.stop()
            step(PHASES[2])
            traced = DaemonRun(home, workdir, trace=True)
            try:
                traced.wait_ready()
                time.sleep(min(settle_s, 5.0))
                allocations = traced.probe()
            finally:
                traced.stop()
        step(PHASES[3])
        costs = import_costs(workdir, modules)
    return {
        "bench": "memory",
        "config": "demo",
        "settle_s": settle_s,
        "rss_mib": round(settled.get("VmRSS", 0.0), 1),
        "rss_at_ready_mib": round(ready.get("VmRSS", 0.0), 1),
        "peak_rss_mib": round(settled.get("VmHWM", 0.0), 1),
        "pss_mib": round(settled["Pss"], 1) if "Pss" in settled else None,
        "uss_mib": round(settled["Uss"], 1) if "Uss" in settled else None,
        "modules_loaded": len(modules),
        **costs,
        "traced_python_mib": round(allocations.get("traced_kib", 0) / 1024, 1),
        "top_allocations": allocations.get("by_line", [])[:10],
        "top_allocating_files": allocations.get("by_file", [])[:10],
    }
