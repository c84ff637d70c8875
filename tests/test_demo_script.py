"""scripts/demo stops the box before the simulators (else it stores a fault per device)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, wait_for

# Stands in for the safetybox command: logs each start, signal and stop to $DEMO_LOG. Like the
# real ones, the box and the simulators install their own SIGINT and SIGTERM handlers.
FAKE = """#!{python}
import os, signal, sys, time
role = "box" if "run" in sys.argv else "sim"
log = os.environ["DEMO_LOG"]
def note(text):
    with open(log, "a") as f:
        f.write(f"{{role}} {{os.getpid()}} {{text}}\\n")
stop = []
def on_signal(num, _frame):
    note(f"got {{signal.Signals(num).name}}")
    stop.append(num)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
note("started")
while not stop:
    time.sleep(0.02)
if role == "box":
    time.sleep(0.5)  # the real box stops drivers, pipeline and store: it takes a moment
note("stopped")
"""


def test_ctrl_c_stops_the_box_before_the_simulators(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "safetybox"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    log = tmp_path / "demo.log"
    env = {**os.environ, "BIN": str(bin_dir), "DEMO": str(tmp_path), "DEMO_LOG": str(log)}
    # Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    proc = subprocess.Popen(
        [str(REPO / "scripts" / "demo")], env=env, cwd=tmp_path, start_new_session=True
    )
    try:
        wait_for(
            lambda: log.exists() and log.read_text().count("started") == 5,
            timeout=15,
            what="the box and four simulators",
        )
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        assert proc.wait(15) is not None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = log.read_text().splitlines()
    box_stopped = lines.index(next(x for x in lines if x.startswith("box") and "stopped" in x))
    sim_lines = [i for i, x in enumerate(lines) if x.startswith("sim") and "started" not in x]
    assert len(sim_lines) == 8, lines  # each simulator was stopped (a signal, then stopped)
    assert min(sim_lines) > box_stopped, f"a simulator stopped before the box:\n{lines}"
