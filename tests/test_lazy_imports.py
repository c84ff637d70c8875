"""Heavy modules a config does not need are not imported by the running daemon.

The daemon runs as a real process (under the ``bench memory`` probe, which writes the
daemon's ``sys.modules`` on SIGUSR1) with a config that has no Modbus devices, no worker
process, no sync, no HTTPS, and nobody logging in or editing the config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from box.bench.memory import DaemonRun
from tests.conftest import sim_body, write_config

pytestmark = pytest.mark.slow

# Loaded only when something needs them (or never by the daemon).
LAZY = {
    "numpy": "sqlite-utils used to import it with the store; vision workers only",
    "sqlite_utils": "the store applies its own schema steps",
    "sqlite3": "the store is sqlcipher3; the standard module is only named in type hints",
    "cryptography": "only for sync's ciphers and to make or read the web certificate",
    "tomlkit": "only when a config edit is saved",
    "argon2": "only at the first password check",
    "multiprocessing": "only when a process driver starts its worker",
    "box.workers.process": "only when a process driver starts its worker",
    "paho": "only with [sync] enabled",
    "cheroot.ssl": "only with [web] https = true",
    "pymodbus": "only with a Modbus driver",
    "urllib.request": "the CLI's HTTP client, not the daemon",
    "schemathesis": "tests only",
    "hypothesis": "tests only",
    "box.cli.store_cmds": "CLI commands load on use",
    "box.cli.sensor_cmds": "CLI commands load on use",
    "box.cli.bench_cmds": "CLI commands load on use",
    "box.cli.user_cmds": "CLI commands load on use",
    "box.cli.config_cmds": "CLI commands load on use",
}


def test_the_daemon_does_not_import_what_its_config_does_not_use(
    home: Path, tmp_path: Path
) -> None:
    write_config(home, sim_body())
    daemon = DaemonRun(home, tmp_path)
    try:
        daemon.wait_ready()
        modules = set(daemon.probe()["modules"])
    finally:
        daemon.stop()
    assert "box.runtime.daemon" in modules and "flask" in modules, "the daemon really ran"
    loaded = {
        name: why
        for name, why in LAZY.items()
        if any(m == name or m.startswith(name + ".") for m in modules)
    }
    assert loaded == {}, f"imported although the config does not need them: {loaded}"
