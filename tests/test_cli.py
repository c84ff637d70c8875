"""CLI commands as a technician runs them: messages, exit codes, output formats."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import click
import pytest

from box.cli import SECTIONS, main
from box.core.records import Event, Quality, Reading
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.config import StoreSection
from box.store.writer import StoreWriter
from box.timeparse import parse_time_ms
from tests.conftest import REPO, run_cli

T0 = 1_790_000_000_000


def fill(home: Path) -> None:
    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.start()
    w.submit_readings([Reading("a", T0 + i * 1000, float(i), Quality.GOOD) for i in range(10)])
    w.submit_readings([Reading("b", T0 + 500, None, Quality.BAD)])
    w.submit_event(Event("test", "cli", T0, 0, {"x": 1}))
    w.flush()
    w.stop()


def test_help_lists_commands_grouped_by_task() -> None:
    out = run_cli(None, "--help").output
    for title, names in SECTIONS.items():
        assert title in out
        assert all(f"  {n} " in out for n in names)
    listed = {n for names in SECTIONS.values() for n in names}
    assert listed == set(main.commands), "every command appears in a help section"


def _leaves(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _leaves(cmd, f"{prefix}{name} ")
        else:
            out.append((f"{prefix}{name}", cmd))
    return out


NO_JSON = {"completion"}  # prints a shell script to eval: JSON would have no reader


@pytest.mark.parametrize(
    ("name", "cmd"),
    [(n, c) for n, c in _leaves(main) if n not in NO_JSON],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_command_offers_json(name: str, cmd: click.Command) -> None:
    assert "--json" in [o for p in cmd.params for o in getattr(p, "opts", [])], name


@pytest.mark.parametrize(
    ("name", "cmd"), _leaves(main), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_command_has_help_and_is_in_the_readme(name: str, cmd: click.Command) -> None:
    assert cmd.help and len(cmd.help) > 20
    top = name.split()[0]
    assert (
        f"`{top}" in (REPO / "README.md").read_text()
        or f" {top}" in (REPO / "README.md").read_text()
    )


def test_config_check_valid_and_invalid(home: Path, tmp_path: Path) -> None:
    assert "valid (0 channels, 0 drivers)" in run_cli(home, "config", "check").output
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nretention_days = 0\nfoo = 1\n")
    result = run_cli(home, "config", "check", str(bad), check=False)
    assert result.exit_code == 1
    assert f"{bad}:2: store.retention_days = 0: Input should be greater than 0" in result.output
    assert f"{bad}:3: store.foo = 1: unknown key" in result.output
    assert "Traceback" not in result.output
    result = run_cli(home, "config", "check", str(bad), "--json", check=False)
    data = json.loads(result.output)
    assert result.exit_code == 1 and not data["valid"]
    assert data["errors"][0]["path"] == "config_version", "a file must state its format"
    assert data["errors"][1] == {
        "line": 2,
        "path": "store.retention_days",
        "value": "0",
        "reason": "Input should be greater than 0",
    }
    missing = run_cli(home, "config", "check", str(tmp_path / "none.toml"), check=False)
    assert missing.exit_code == 1 and "config file not found" in missing.output


def test_config_show_fills_defaults_and_masks_secrets(home: Path) -> None:
    out = run_cli(home, "config", "show").output
    assert "retention_days = 90" in out and "[web]" in out
    from box.config.secrets import mask_secrets

    assert mask_secrets({"mqtt": {"password": "hunter2", "user": "u"}}) == {
        "mqtt": {"password": "********", "user": "u"}
    }
    data = json.loads(run_cli(home, "config", "show", "--json").output)
    assert data["store"]["synchronous"] == "normal"


def test_status_when_nothing_runs_says_so(home: Path) -> None:
    (home / "box.toml").write_text('[web]\nlisten = ["127.0.0.1:9"]\n')
    result = run_cli(home, "status", check=False)
    assert result.exit_code == 1
    assert (
        "no box answers at http://127.0.0.1:9" in result.output
        and "is it running?" in result.output
    )


def test_readings_export_csv_and_jsonl_with_filters(home: Path, tmp_path: Path) -> None:
    fill(home)
    result = run_cli(home, "readings", "export", "--format", "csv")
    assert "exported 11 readings" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 11
    assert rows[0] == {
        "id": "1",
        "channel": "a",
        "ts": "2026-09-21T14:13:20.000+00:00",
        "ts_ms": str(T0),
        "value": "0.0",
        "quality": "good",
    }
    assert rows[-1]["channel"] == "b" and rows[-1]["value"] == "" and rows[-1]["quality"] == "bad"

    dest = tmp_path / "out.jsonl"
    run_cli(
        home,
        "readings",
        "export",
        "--channel",
        "a",
        "--since",
        str(T0 + 2000),
        "--until",
        "2026-09-21T14:13:25Z",
        "--format",
        "jsonl",
        "-o",
        str(dest),
    )
    lines = [json.loads(x) for x in dest.read_text().splitlines()]
    assert [x["value"] for x in lines] == [2.0, 3.0, 4.0]

    bad = run_cli(
        home, "readings", "export", "--since", "yesterday-ish", "--format", "csv", check=False
    )
    assert bad.exit_code == 2 and "is not a time: use ISO 8601" in bad.output
    nofmt = run_cli(home, "readings", "export", check=False)
    assert nofmt.exit_code == 2 and "--format" in nofmt.output


def test_audit_verify_ok_then_broken(home: Path) -> None:
    fill(home)
    assert "hash chain intact: 1 events" in run_cli(home, "audit", "verify").output
    from box.store.database import connect
    from tests.conftest import open_reader  # noqa: F401 - only to locate the db

    bh = BoxHome.under(home)
    conn = connect(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"))
    conn.execute("UPDATE events SET details = '{\"x\":2}'")
    conn.close()
    result = run_cli(home, "audit", "verify", check=False)
    assert result.exit_code == 1 and "hash chain BROKEN at seq 1" in result.output
    data = json.loads(run_cli(home, "audit", "verify", "--json", check=False).output)
    assert data["ok"] is False and data["broken_seq"] == 1


def test_readings_export_without_a_store(home: Path) -> None:
    for f in (home / "data").glob("box.db*"):
        f.unlink()
    result = run_cli(home, "readings", "export", "--format", "csv", check=False)
    assert result.exit_code == 1 and "no store at" in result.output


def test_drivers_list(home: Path) -> None:
    data = json.loads(run_cli(home, "drivers", "list", "--json").output)
    assert data == {
        "drivers": {
            "camera": "vision.driver.CameraDriver",
            "modbus": "drivers.modbus.driver.ModbusDriver",
            "process": "box.workers.driver.ProcessDriver",
            "sim": "drivers.simulated.SimDriver",
            "uwb_dwm1001": "drivers.uwb.dwm1001.Dwm1001Driver",
            "uwb_json": "drivers.uwb.json_driver.JsonSourceDriver",
            "uwb_linktrack": "drivers.uwb.linktrack_driver.LinkTrackDriver",
        },
        "failed": {},
    }


def test_bench_positioning_prints_json_last() -> None:
    out = run_cli(
        None,
        "bench",
        "positioning",
        "--tags",
        "40",
        "--zones",
        "20",
        "--updates",
        "4000",
        "--paced-s",
        "1",
        "--json",
    ).output
    result = json.loads(out.strip().splitlines()[-1])
    assert result["updates_per_s"] > 0 and result["p99_ms"] > 0 and result["latency_probes"] > 0
    assert result["processed"] == result["updates"] and result["dropped"] == 0


def test_bench_pipeline_prints_json_last(home: Path) -> None:
    out = run_cli(
        None, "bench", "pipeline", "--readings", "20000", "--channels", "20", "--all-cores"
    ).output
    result = json.loads(out.strip().splitlines()[-1])
    for key in (
        "readings_per_s",
        "baseline_readings_per_s",
        "ratio",
        "p99_commit_ms",
        "peak_rss_mb",
    ):
        assert result[key] > 0
    assert result["readings"] == 20_000 and result["dropped"] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", 1_000_000 - 7_200_000 + 10_000_000),
        ("30m", 11_000_000 - 1_800_000),
        ("1790000000000", 1_790_000_000_000),
        ("2026-09-21T14:13:20Z", T0),
        ("2026-09-21T16:13:20+02:00", T0),
    ],
)
def test_time_parsing(text: str, expected: int) -> None:
    assert parse_time_ms(text, 11_000_000) == expected


def test_users_add_list_reset(home: Path) -> None:
    out = run_cli(home, "users", "add", "li_wei", "--role", "operator").output
    assert "li_wei (operator): temporary password" in out
    listed = json.loads(run_cli(home, "users", "list", "--json").output)
    assert {"name": "li_wei", "role": "operator", "must_change": True} in listed
    assert any(u["name"] == "admin" for u in listed), "init created the admin account"
    assert "temporary password" in run_cli(home, "users", "reset", "admin").output
    reset = json.loads(run_cli(home, "users", "reset", "admin", "--json").output)
    assert reset["name"] == "admin" and len(reset["temporary_password"]) >= 12
    dup = run_cli(home, "users", "add", "li_wei", "--role", "viewer", check=False)
    assert dup.exit_code == 1 and "exists already" in dup.output
    missing = run_cli(home, "users", "reset", "nobody", check=False)
    assert missing.exit_code == 1 and "no account 'nobody'" in missing.output


def test_doctor_says_what_to_fix(home: Path) -> None:
    ok = run_cli(home, "doctor")
    assert "[  OK] store:" in ok.output and "[  OK] key store.key: mode 600" in ok.output
    import os

    os.chmod(home / "keys" / "sync.key", 0o644)
    (home / "box.toml").write_text(
        (home / "box.toml").read_text()
        + """
[[channels]]
id = "x"
kind = "gas_lel"
unit = "%LEL"
[[drivers]]
type = "modbus"
name = "bus"
port = "/dev/ttyNOPE9"
[[drivers.devices]]
unit = 1
profile = "generic-gas-probe"
channels = { concentration = "x" }
"""
    )
    bad = run_cli(home, "doctor", "--json", check=False)
    assert bad.exit_code == 1
    checks = {c["name"]: c for c in json.loads(bad.output)}
    assert checks["key sync.key"]["status"] == "fail"
    assert checks["key sync.key"]["fix"] == f"chmod 600 {home / 'keys' / 'sync.key'}"
    assert checks["serial /dev/ttyNOPE9"]["status"] == "fail"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    out = run_cli(None, "completion", shell).output
    assert "_SAFETYBOX_COMPLETE" in out


def test_export_json_summary_and_backup(home: Path, tmp_path: Path) -> None:
    fill(home)
    dest = tmp_path / "a.csv"
    out = run_cli(home, "readings", "export", "--format", "csv", "-o", str(dest), "--json")
    assert json.loads(out.stdout) == {"file": str(dest), "format": "csv", "readings": 11}
    bad = run_cli(home, "readings", "export", "--format", "csv", "--json", check=False)
    assert bad.exit_code == 2 and "--format jsonl" in bad.output

    copy = tmp_path / "backup.db"
    made = run_cli(home, "backup", "-o", str(copy), "--json")
    assert made.stderr == "", "no progress bar off a terminal"
    result = json.loads(made.stdout)
    assert result == {"file": str(copy), "bytes": copy.stat().st_size, "encrypted": True}
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert not copy.read_bytes().startswith(b"SQLite format 3"), "still encrypted"
    from box.store.database import connect

    key = FileKeyProvider(BoxHome.under(home).keys_dir).get("store")
    conn = connect(copy, key, readonly=True)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 11
    conn.close()
    again = run_cli(home, "backup", "-o", str(copy), check=False)
    assert again.exit_code == 1 and "exists: choose a new file name" in again.output


def test_config_reload_and_apply_json_when_the_box_is_stopped(home: Path, tmp_path: Path) -> None:
    out = json.loads(run_cli(home, "config", "reload", "--json").stdout)
    assert out == {"running": False, "accepted": None, "changed": []}
    new = tmp_path / "new.toml"
    new.write_text((home / "box.toml").read_text().replace('name = "SafetyBox"', 'name = "B2"'))
    out = json.loads(run_cli(home, "config", "apply", str(new), "--json").stdout)
    assert out["installed"] == str(home / "box.toml") and out["running"] is False
    assert 'name = "B2"' in (home / "box.toml").read_text()


def test_long_commands_show_progress_on_a_terminal(home: Path, tmp_path: Path) -> None:
    """stderr on a real pseudo-terminal: the backup draws its bar; stdout stays clean."""
    import os
    import subprocess
    import sys

    fill(home)
    primary, secondary = os.openpty()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "box.cli",
                "--home",
                str(home),
                "backup",
                "-o",
                str(tmp_path / "b.db"),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=60,
            check=True,
            env={**os.environ, "COLUMNS": "100"},
        )
        os.close(secondary)
        secondary = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the other end is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert b"backup" in drawn and b"100%" in drawn
    assert json.loads(proc.stdout)["encrypted"] is True


LEAK = 38.43682882174573
CANNED_STATUS = {
    "name": "Demo", "box_id": "sb-1", "version": "0", "uptime_s": 5, "healthy": True,
    "problems": [], "started_ms": T0, "failed_driver_imports": {}, "drivers": [],
    "store": {"committed_readings": 1, "stored_readings": 1, "committed_events": 1, "size_bytes": 0,
              "dropped_readings": 0},
    "queues": {"pipeline": 0, "store": 0}, "outputs": {}, "silenced_until": None,
    "sync": {"enabled": False}, "first_out": "tank1.lel:A1",
    "channels": [
        {"id": "tank1.lel", "unit": "%LEL", "decimals": 1, "value": LEAK, "quality": "good",
         "age_s": 0.4, "alarms_active": ["A1"]},
        {"id": "line3.pressure", "unit": "MPa", "decimals": 3, "value": 1.2345678,
         "quality": "stale", "age_s": 75.0, "alarms_active": ["fault"]},
    ],
    "alarms": [
        {"id": "tank1.lel:A1", "level": 2, "colour": "orange", "state": "active_unack",
         "shelved": None, "value": LEAK, "unit": "%LEL", "decimals": 1},
    ],
}  # fmt: skip


class CannedClient:
    def __init__(self, home: object) -> None:
        pass

    def status(self) -> dict:
        return CANNED_STATUS

    def get(self, path: str) -> dict:
        return CANNED_STATUS


def test_values_are_shown_with_the_channels_decimals(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import box.cli.alarm_cmds
    import box.cli.box_cmds
    import box.client

    for module in (box.cli.box_cmds, box.cli.alarm_cmds, box.client):
        monkeypatch.setattr(module, "BoxClient", CannedClient)
    monkeypatch.setattr("time.sleep", lambda s: None)
    status = run_cli(home, "status").output
    listed = run_cli(home, "alarms", "list").output
    read = run_cli(home, "sensors", "read", "tank1.lel", "--count", "1").output
    for out in (status, listed, read):
        assert "38.43682882174573" not in out and "38.437" not in out
    assert "38.4 %LEL" in status and "1.235 MPa" in status and "stale" in status
    assert "value 38.4 %LEL" in listed
    assert read.strip() == "tank1.lel: 38.4 %LEL (good, age 0.4 s)"


def test_docs_stand_alone() -> None:
    """The project's docs hold what users need; none points at notes outside the repository."""
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        assert "DOMAIN" not in text and "../shared" not in text, doc.name
    assert "(docs/ALARMS.md)" in (REPO / "README.md").read_text(encoding="utf-8")
    alarms = (REPO / "docs" / "ALARMS.md").read_text(encoding="utf-8")
    for topic in ("deadband", "on_delay_s", "cleared_unack", "stale_after_s", "STEL", "k out of n"):
        assert topic in alarms, topic


@pytest.mark.parametrize(
    "argv",
    [
        ("alarms", "ack", "x:A1"),
        ("audit", "verify"),
        ("doctor",),
        ("config", "check"),
        ("status",),
        ("readings", "export", "--format", "csv"),
        ("keys", "export"),
    ],
    ids=lambda a: " ".join(a),
)
def test_without_home_the_advice_names_the_system_layout_and_home(
    argv: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'run safetybox init' alone would create a second box under /etc beside the real one."""
    import box.paths

    monkeypatch.delenv("SAFETYBOX_HOME", raising=False)
    monkeypatch.setattr(box.paths, "SYSTEM_CONFIG_DIR", tmp_path / "etc")
    monkeypatch.setattr(box.paths, "SYSTEM_DATA_DIR", tmp_path / "var")
    result = run_cli(None, *argv, check=False)
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert f"the system layout ({tmp_path / 'etc'}, {tmp_path / 'var'}) has no box" in out
    assert "--home DIR (or SAFETYBOX_HOME=DIR)" in out and "safetybox init" in out
    assert "Traceback" not in result.output


def test_in_a_home_folder_the_advice_keeps_that_home(home: Path) -> None:
    (home / "box.toml").unlink()
    result = run_cli(home, "config", "check", check=False)
    assert result.exit_code == 1
    assert "run 'safetybox init' with the same --home" in result.output
    assert "system layout" not in result.output


HELP_TIME_FORMS = [
    "2026-11-23T08:00",
    "2026-11-23",
    "2026-11-23T08:00Z",
    "1790000000000",
    "now",
    "30m",
    "2h",
    "2h ago",
    "30 min ago",
    "1d ago",
]


def test_every_time_form_the_help_offers_is_accepted() -> None:
    help_text = " ".join(run_cli(None, "readings", "export", "--help").output.split())
    now = 1_790_000_000_000
    for form in HELP_TIME_FORMS:
        assert form in help_text, f"{form!r} no longer in the help: update this list"
        assert isinstance(parse_time_ms(form, now), int), form
    assert parse_time_ms("2h ago", now) == now - 7_200_000
    assert parse_time_ms("30 min ago", now) == now - 1_800_000
    assert parse_time_ms("1d ago", now) == parse_time_ms("1d", now) == now - 86_400_000
    assert parse_time_ms("90 seconds ago", now) == now - 90_000
    assert parse_time_ms("2 hours ago", now) == parse_time_ms("2H AGO", now)
    assert parse_time_ms("now", now) == now
    assert parse_time_ms("2026-11-23T08:00Z", now) == 1_795_420_800_000
    with pytest.raises(ValueError, match="'2 parsecs ago' is not a time"):
        parse_time_ms("2 parsecs ago", now)


def test_readings_export_since_an_age_with_ago(home: Path) -> None:
    fill(home)  # readings at T0, before this machine's clock
    everything = run_cli(home, "readings", "export", "--since", "100000d ago", "--format", "csv")
    assert "exported 11 readings" in everything.stderr
    recent = run_cli(home, "readings", "export", "--since", "30 min ago", "--format", "csv")
    assert "exported 0 readings" in recent.stderr


@pytest.mark.parametrize(
    "argv",
    [("readings", "export", "--format", "csv"), ("keys", "export")],
    ids=lambda a: " ".join(a),
)
def test_dash_o_refuses_an_existing_file_unless_force(
    argv: tuple[str, ...], home: Path, tmp_path: Path
) -> None:
    fill(home)
    target = tmp_path / "earlier-work.txt"
    target.write_text("keep me\n")
    refused = run_cli(home, *argv, "-o", str(target), check=False)
    assert refused.exit_code == 1
    assert f"{target} exists: choose a new file name, or add --force" in refused.output
    assert target.read_text() == "keep me\n"
    run_cli(home, *argv, "-o", str(target), "--force")
    assert target.read_text() != "keep me\n"
    fresh = tmp_path / "new.txt"
    run_cli(home, *argv, "-o", str(fresh))
    assert fresh.stat().st_size > 0


def _fill_events(home: Path) -> None:
    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.start()
    w.submit_event(Event("alarm_raised", "tank1.lel", T0, 2, {"alarm": "tank1.lel:A1"}))
    w.submit_event(Event("alarm_acked", "tank1.lel", T0 + 60_000, 0, {"who": "cli:li"}))
    w.submit_event(Event("alarm_raised", "tank2.lel", T0 + 120_000, 1, {"alarm": "tank2.lel:A2"}))
    w.submit_event(Event("config_applied", "web", T0 + 180_000, 0, {"who": "admin"}))
    assert w.flush()
    w.stop()


def _seqs(home: Path, *args: str) -> list[str]:
    out = json.loads(run_cli(home, "events", "list", "--json", *args).stdout)
    return [f"{e['kind']}@{e['source']}" for e in out]


def test_events_list_with_filters(home: Path) -> None:
    _fill_events(home)
    assert _seqs(home, "--source", "tank1.lel") == [
        "alarm_raised@tank1.lel",
        "alarm_acked@tank1.lel",
    ]
    assert _seqs(home, "--kind", "alarm_raised") == [
        "alarm_raised@tank1.lel",
        "alarm_raised@tank2.lel",
    ]
    assert _seqs(home, "--level", "1", "--level", "2") == [
        "alarm_raised@tank1.lel",
        "alarm_raised@tank2.lel",
    ]
    window = ("--since", str(T0 + 60_000), "--until", "2026-09-21T14:16:20Z")  # T0 + 3 min
    assert _seqs(home, *window) == ["alarm_acked@tank1.lel", "alarm_raised@tank2.lel"]
    assert _seqs(home, "--kind", "config_applied", "--since", "100000d ago") == [
        "config_applied@web"
    ]
    newest = json.loads(run_cli(home, "events", "list", "--limit", "2", "--json").stdout)
    assert [e["kind"] for e in newest] == ["alarm_raised", "config_applied"], "newest, in order"
    assert newest[0]["details"] == {"alarm": "tank2.lel:A2"}
    assert newest[0]["ts"] == "2026-09-21T14:15:20.000+00:00"
    assert newest[1]["seq"] > newest[0]["seq"]

    text = run_cli(home, "events", "list", "--source", "tank2.lel").stdout
    assert "L1 alarm_raised" in text and "tank2.lel:A2" in text and "tank1" not in text
    none = run_cli(home, "events", "list", "--kind", "nothing-like-this")
    assert none.stdout == "" and "no events match" in none.stderr


def test_events_list_reads_beside_a_running_writer(home: Path) -> None:
    """Read-only: a box holding the store's lock does not stop a technician reading events."""
    _fill_events(home)
    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.start()
    try:
        w.submit_event(Event("fault", "bus", T0 + 240_000, 3, {"why": "offline"}))
        assert w.flush()
        assert _seqs(home, "--kind", "fault") == ["fault@bus"]
    finally:
        w.stop()


def _counts(home: Path) -> tuple[int, list[str]]:
    from tests.conftest import open_reader

    conn = open_reader(home)
    try:
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY seq")]
    finally:
        conn.close()
    return readings, kinds


def test_restore_puts_the_backup_back_and_keeps_the_replaced_store(
    home: Path, tmp_path: Path
) -> None:
    fill(home)
    copy = tmp_path / "backup.db"
    run_cli(home, "backup", "-o", str(copy))
    _fill_events(home)  # after the backup: 4 more events and 11 more readings
    fill(home)
    assert _counts(home)[0] == 22
    result = json.loads(run_cli(home, "restore", str(copy), "--json").stdout)
    assert result["readings"] == 11 and result["events"] == 1 and result["last_event_seq"] == 1
    readings, kinds = _counts(home)
    assert readings == 11, "the readings are the backup's"
    assert kinds == ["test", "store_restored"], "the backup's events, then the restore's"
    assert "hash chain intact: 2 events" in run_cli(home, "audit", "verify").output
    aside = Path(result["kept_aside"])
    assert aside.parent == home / "data" and aside.name.startswith("box-replaced-")
    from box.store.database import connect

    conn = connect(aside, FileKeyProvider(BoxHome.under(home).keys_dir).get("store"), readonly=True)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 22, "kept, whole"
    conn.close()
    assert copy.exists(), "the backup itself is left as it was"
    text = run_cli(home, "restore", str(copy)).output
    assert "restored" in text and "the replaced store is kept as" in text
    assert len(list((home / "data").glob("box-replaced-*.db"))) == 2, "never overwritten"


def test_restore_is_refused_while_a_box_writes_the_store(home: Path, tmp_path: Path) -> None:
    import os

    fill(home)
    copy = tmp_path / "backup.db"
    run_cli(home, "backup", "-o", str(copy))
    db = home / "data" / "box.db"
    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.start()
    try:
        refused = run_cli(home, "restore", str(copy), check=False)
    finally:
        w.stop()
    assert refused.exit_code == 1
    assert f"cannot restore while the box daemon (pid {os.getpid()}) runs" in refused.output
    assert "stop it first" in refused.output
    assert not list(db.parent.glob("box-replaced-*")) and _counts(home)[0] == 11


def _foreign_files(tmp_path: Path, home: Path) -> dict[str, Path]:
    import sqlite3

    from box.store.database import connect

    files = {}
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    files["random bytes"] = junk
    plain = tmp_path / "plain.db"
    conn = sqlite3.connect(plain)
    conn.execute("CREATE TABLE readings(id)")
    conn.commit()
    conn.close()
    files["plain sqlite"] = plain
    other = tmp_path / "other-box.db"
    w = StoreWriter(other, bytes(range(32)), StoreSection())
    w.start()
    w.submit_event(Event("test", "other", T0, 0, {}))
    assert w.flush()
    w.stop()
    files["another box's key"] = other
    key = FileKeyProvider(BoxHome.under(home).keys_dir).get("store")
    empty = tmp_path / "keyed-not-a-store.db"
    conn = connect(empty, key)
    conn.execute("CREATE TABLE x(y)")
    conn.close()
    files["not a store"] = empty
    tampered = tmp_path / "tampered.db"
    run_cli(home, "backup", "-o", str(tampered))
    conn = connect(tampered, key)
    conn.execute("UPDATE events SET details = '{\"x\":2}'")
    conn.close()
    files["broken hash chain"] = tampered
    truncated = tmp_path / "truncated.db"
    good = tmp_path / "good.db"
    run_cli(home, "backup", "-o", str(good))
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    files["truncated"] = truncated
    return files


def test_restore_refuses_foreign_and_damaged_files_and_leaves_the_store(
    home: Path, tmp_path: Path
) -> None:
    import hashlib

    fill(home)
    db = home / "data" / "box.db"
    files = _foreign_files(tmp_path, home)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for what, path in files.items():
        result = run_cli(home, "restore", str(path), check=False)
        assert result.exit_code == 1, what
        assert f"{path} is not restored (the store is unchanged)" in result.output, what
        assert "Traceback" not in result.output
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before, what
        assert not list(db.parent.glob("box-replaced-*")), what
        assert not list(db.parent.glob("box.db.restoring*")), what
    assert _counts(home) == (11, ["test"])
    tampered = run_cli(home, "restore", str(files["broken hash chain"]), check=False)
    assert "hash chain is broken at seq 1" in tampered.output
    foreign = run_cli(home, "restore", str(files["another box's key"]), check=False)
    assert "the store key does not open it" in foreign.output


def test_the_cli_does_not_hash_a_password_at_import() -> None:
    """An argon2id hash (~0.2 s, 64 MB) was made at import, so every command paid for it."""
    import subprocess
    import sys

    code = "import box.cli, box.web.accounts as a; print(a._dummy.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "0", out.stderr
