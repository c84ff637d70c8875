"""The daemon as a real subprocess: kill -9 mid-ingest, SIGTERM flush, SIGHUP reload, sd_notify."""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import pytest

from box.paths import BoxHome
from tests.conftest import open_reader, run_cli, sim_body, wait_for, write_config

pytestmark = pytest.mark.slow

FAST_BODY = (
    sim_body(interval=0.002)
    + "".join(f'\n[[channels]]\nid = "load.c{i}"\nkind = "other"\nunit = "x"\n' for i in range(40))
    + '\n[[drivers]]\ntype = "sim"\nname = "load"\ninterval_s = 0.002\n'
    + "".join(
        f'[[drivers.points]]\nchannel = "load.c{i}"\n'
        f'waveform = {{ shape = "sine", mean = 0, amplitude = 1, period_s = 7 }}\n'
        for i in range(40)
    )
)


def committed_ids(home: Path) -> int:
    conn = open_reader(home)
    try:
        return conn.execute("SELECT coalesce(max(id), 0) FROM readings").fetchone()[0]
    finally:
        conn.close()


def test_sigkill_mid_ingest_loses_nothing_committed(home: Path, daemon_factory) -> None:
    write_config(home, FAST_BODY)
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: committed_ids(home) > 20_000, timeout=30, what="20k committed readings")
    seen = committed_ids(home)  # committed: another connection can see it
    d.signal(signal.SIGKILL)
    d.proc.wait(10)
    assert d.proc.returncode == -signal.SIGKILL

    conn = open_reader(home)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        conn.execute("SELECT count(*) FROM readings WHERE id <= ?", (seen,)).fetchone()[0] == seen
    )
    conn.close()
    assert run_cli(home, "audit", "verify").exit_code == 0

    d2 = daemon_factory(home)
    d2.wait_ready()
    wait_for(lambda: committed_ids(home) > seen + 1000, what="ingest after restart")
    assert d2.stop() == 0
    assert run_cli(home, "audit", "verify").exit_code == 0


def test_sigterm_flushes_everything_processed(home: Path, daemon_factory) -> None:
    write_config(home, FAST_BODY)
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: committed_ids(home) > 5000, timeout=30, what="ingest")
    assert d.stop() == 0
    m = re.search(r"processed=(\d+) committed=(\d+) dropped=(\d+)", d.output())
    assert m, d.output()
    processed, committed, dropped = map(int, m.groups())
    assert processed == committed and dropped == 0
    conn = open_reader(home)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == committed
    last = conn.execute("SELECT kind FROM events ORDER BY seq DESC LIMIT 1").fetchone()[0]
    conn.close()
    assert last == "daemon_stopped"
    assert not (home / "data" / "safetybox.pid").exists()


def test_sighup_reloads_and_a_bad_edit_is_rejected(home: Path, daemon_factory) -> None:
    write_config(home, sim_body())
    d = daemon_factory(home)
    d.wait_ready()
    cfg = home / "box.toml"
    cfg.write_text(cfg.read_text().replace("at = 25.0,", "at = 33.0,"))
    d.signal(signal.SIGHUP)

    def kinds() -> list[tuple[str, dict]]:
        conn = open_reader(home)
        try:
            sql = "SELECT kind, details FROM events WHERE kind LIKE 'config_%' ORDER BY seq"
            return [(k, json.loads(v)) for k, v in conn.execute(sql)]
        finally:
            conn.close()

    wait_for(lambda: len(kinds()) == 2, what="config_applied after SIGHUP")
    assert kinds()[1][1]["who"] == "signal:SIGHUP"
    assert kinds()[1][1]["changed"] == ["channels[0].alarms.thresholds.levels[0].at"]
    cfg.write_text(cfg.read_text().replace('kind = "gas_lel"', 'kind = "gas_lol"'))
    d.signal(signal.SIGHUP)
    wait_for(lambda: len(kinds()) == 3, what="config_rejected after SIGHUP")
    kind, details = kinds()[2]
    assert kind == "config_rejected" and "channels[0].kind = 'gas_lol'" in details["errors"][0]
    assert d.status()["healthy"], "the box keeps running on the last good config"


def test_sd_notify_ready_watchdog_and_stopping(home: Path, tmp_path: Path, daemon_factory) -> None:
    write_config(home, sim_body())
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(15)
        d = daemon_factory(home, env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"})
        messages: list[str] = []
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        assert "READY=1" in messages[0] and "STATUS=" in messages[0]
        assert messages.index(next(m for m in messages if "WATCHDOG=1" in m)) > 0
        d.signal(signal.SIGTERM)
        while "STOPPING=1" not in messages[-1]:
            messages.append(sock.recv(4096).decode())
    assert d.stop() == 0


def test_cli_status_against_a_running_box(home: Path, daemon_factory) -> None:
    write_config(home, sim_body())
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: d.status()["store"]["committed_readings"] > 0, what="readings")
    out = run_cli(home, "status").output
    assert "healthy" in out and "t1.lel" in out and "%LEL" in out
    data = json.loads(run_cli(home, "status", "--json").output)
    assert data["drivers"][0]["name"] == "sim1"
    # config apply validates, installs atomically and makes the running box reload
    new = home.parent / "new.toml"
    new.write_text((home / "box.toml").read_text().replace("at = 25.0,", "at = 26.0,"))
    out = run_cli(home, "config", "apply", str(new)).output
    assert "changed: channels[0].alarms.thresholds.levels[0].at" in out
    bad = home.parent / "bad.toml"
    bad.write_text("bogus = 1\n")
    result = run_cli(home, "config", "apply", str(bad), check=False)
    assert result.exit_code == 1 and "bad.toml:1: bogus = 1: unknown key" in result.output
    assert "at = 26.0," in (home / "box.toml").read_text(), "a bad file is never installed"


def test_alarm_cli_against_a_running_box(home: Path, daemon_factory) -> None:
    write_config(home, sim_body(interval=0.05, step_at=0.3, step_back=3600))
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: any(a["id"] == "t1.lel:A1" for a in d.status()["alarms"]), what="A1")
    out = run_cli(home, "alarms", "list").output
    assert "* t1.lel:A1" in out and "active_unack" in out and "orange" in out
    assert d.status()["outputs"]["red"]["mode"] == "blink_fast"
    assert "t1.lel:A1: active_ack" in run_cli(home, "alarms", "ack", "t1.lel:A1").output
    wait_for(lambda: d.status()["outputs"]["red"]["mode"] == "on", what="steady red after ack")
    out = run_cli(home, "alarms", "shelve", "t1.lel:A1", "--for", "30m", "--reason", "cal").output
    assert "shelved until" in out
    listed = json.loads(run_cli(home, "alarms", "list", "--json").output)
    assert listed["alarms"][0]["shelved"]["reason"] == "cal"
    assert "lamp and horn test" in run_cli(home, "alarms", "test", "--seconds", "1").output
    assert json.loads(run_cli(home, "alarms", "test", "--seconds", "1", "--json").output) == {
        "lamp_test_s": 1.0
    }
    bad = run_cli(home, "alarms", "reset", "t1.lel:A1", check=False)
    assert bad.exit_code == 1 and "condition is still present" in bad.output
    bad = run_cli(
        home, "alarms", "shelve", "t1.lel:A1", "--for", "soon", "--reason", "x", check=False
    )
    assert bad.exit_code == 2 and "'soon' is not a duration" in bad.output

    def kinds() -> list[str]:
        conn = open_reader(home)
        try:
            sql = "SELECT kind FROM events WHERE kind LIKE 'alarm_%' OR kind = 'lamp_test'"
            return [k for (k,) in conn.execute(sql + " ORDER BY seq")]
        finally:
            conn.close()

    wait_for(lambda: len(kinds()) >= 4, what="four events committed")
    assert kinds()[:4] == ["alarm_raised", "alarm_acked", "alarm_shelved", "lamp_test"]


def test_killed_with_a_fail_safe_output_active_restarts_safe(home: Path, daemon_factory) -> None:
    """Level 1 active (valve relay de-energised), kill -9, restart: the relay must not be
    energised again by the restart itself, even before the first new reading."""
    body = (
        sim_body(interval=0.05, step_at=0.2, step_back=3600)
        .replace("after = 40.0", "after = 60.0")
        .replace(
            '{ name = "A2", at = 50.0, level = 1 }',
            '{ name = "A2", at = 50.0, level = 1, latching = true }',
        )
    )
    write_config(home, body)
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: d.status()["outputs"]["relay:valve"]["level"] == 0, what="valve dropped")

    def persisted() -> bool:  # alarm state is durable one group commit after the transition
        conn = open_reader(home)
        try:
            row = conn.execute("SELECT value FROM state WHERE key = 'alarm.t1.lel:A2'").fetchone()
            return row is not None and '"active_unack"' in row[0]
        finally:
            conn.close()

    wait_for(persisted, what="A2 state committed")
    d.signal(signal.SIGKILL)
    d.proc.wait(10)
    # Restart with the gas reading gone quiet: the sim now starts below any threshold for 1 h.
    cfg = home / "box.toml"
    cfg.write_text(cfg.read_text().replace("at_s = 0.2", "at_s = 3000"))
    d2 = daemon_factory(home)
    first = d2.wait_ready()
    assert first["outputs"]["relay:valve"]["level"] == 0, "restored alarm keeps the valve safe"
    a2 = next(a for a in first["alarms"] if a["id"] == "t1.lel:A2")
    assert a2["state"] in ("active_unack", "cleared_unack"), "latched until someone resets it"


def test_demo_operator_acknowledges_through_the_api(home: Path, daemon_factory) -> None:
    from box.client import BoxClient
    from sim.operator import DemoOperator

    write_config(home, sim_body(interval=0.05, step_at=0.2, step_back=3600))
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: any(a["id"] == "t1.lel:A1" for a in d.status()["alarms"]), what="A1")
    said: list[str] = []
    op = DemoOperator(BoxClient(BoxHome.under(home)), ack_after_s=5, say=said.append)
    op.step(100.0)
    assert said == []
    op.step(105.0)
    assert "demo-operator: acknowledged t1.lel:A1" in said
    a1 = next(a for a in d.status()["alarms"] if a["id"] == "t1.lel:A1")
    assert a1["state"] == "active_ack" and a1["acked"]["who"] == "api:demo-operator"


def test_a_storm_of_signals_never_hangs_the_daemon(home: Path, daemon_factory) -> None:  # noqa: ANN001
    """The handler used to call Event.set, whose lock the main loop may hold inside
    Event.wait: a signal at that moment deadlocked the daemon for good (seen as a demo that
    would not stop on Ctrl-C). Now the handler only notes the signal."""
    write_config(home, sim_body())
    d = daemon_factory(home)
    d.wait_ready()
    for _ in range(300):
        d.signal(signal.SIGHUP)
    d.signal(signal.SIGINT)
    d.signal(signal.SIGINT)
    assert d.proc.wait(30) == 0, "stopped in order after the storm"
    assert "box stopped; store flushed" in d.output()
