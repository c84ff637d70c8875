"""Output kinds are plug-ins: a new output is one module plus one entry-point line."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from box.alarms import output_kinds
from box.config.loader import ConfigInvalid, parse_config
from box.config.schema import config_json_schema
from box.core import plugins
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from drivers.base import default_registry
from tests import example_output
from tests.alarm_harness import Box
from tests.conftest import (
    free_port,
    get_json,
    open_reader,
    run_cli,
    sim_body,
    wait_for,
    write_config,
)

CHANNEL = """
[[channels]]
id = "g"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 20, level = 1 }]
"""
SIREN = '\n[[outputs.plugins]]\ntype = "log_siren"\nname = "siren"\nvolume = 60\n'
FAULTY = '\n[[outputs.plugins]]\ntype = "faulty"\nname = "bad"\n'
BROKEN = '\n[[outputs.plugins]]\ntype = "broken"\nname = "pa"\nzone = 3\n'


def _plugins(monkeypatch: pytest.MonkeyPatch, *pairs: tuple[str, str]) -> output_kinds.OutputKinds:
    """Install these ``safetybox.outputs`` entry points; the process's kinds are reloaded."""
    eps = [EntryPoint(name, value, plugins.OUTPUTS) for name, value in pairs]
    real = plugins.entry_points  # the other groups (the drivers) stay as installed
    monkeypatch.setattr(
        plugins,
        "entry_points",
        lambda group: (
            [e for e in eps if e.group == group] if group == plugins.OUTPUTS else real(group=group)
        ),
    )
    monkeypatch.setattr(output_kinds, "_default", None)
    monkeypatch.setattr(example_output, "SIRENS", {})
    return output_kinds.default_output_kinds()


@pytest.fixture
def kinds(monkeypatch: pytest.MonkeyPatch) -> output_kinds.OutputKinds:
    return _plugins(
        monkeypatch,
        ("log_siren", "tests.example_output:KIND"),
        ("faulty", "tests.example_output:FAULTY"),
        ("broken", "no_such_module_xyz:KIND"),
    )


def test_a_plugin_output_is_configured_checked_and_in_the_json_schema(
    kinds: output_kinds.OutputKinds,
) -> None:
    config = parse_config("config_version = 1\n" + SIREN)
    (siren,) = config.outputs.plugins
    assert siren.type == "log_siren" and siren.volume == 60  # type: ignore[attr-defined]
    schema = config_json_schema(default_registry())
    assert schema["$defs"]["LogSirenConfig"]["properties"]["volume"]["maximum"] == 100
    plugin_items = schema["$defs"]["Outputs"]["properties"]["plugins"]["items"]
    assert set(plugin_items["discriminator"]["mapping"]) == {"log_siren", "faulty", "broken"}
    with pytest.raises(ConfigInvalid, match=r"outputs.plugins\[0\].volume = 200"):
        parse_config("config_version = 1\n" + SIREN.replace("60", "200"))
    with pytest.raises(ConfigInvalid, match=r"outputs.plugins\[0\].type = 'horn'"):
        parse_config("config_version = 1\n" + SIREN.replace("log_siren", "horn"))
    with pytest.raises(ConfigInvalid, match=r"outputs.plugins\[1\].name = 'siren': duplicate"):
        parse_config("config_version = 1\n" + SIREN + SIREN)


def test_without_the_plugin_its_keys_are_unknown() -> None:
    with pytest.raises(ConfigInvalid, match=r"outputs.plugins\[0\].volume = 60: unknown key"):
        parse_config("config_version = 1\n" + SIREN)


def test_a_plugin_output_follows_raise_silence_ack_and_clear(
    kinds: output_kinds.OutputKinds,
) -> None:
    b = Box(CHANNEL + SIREN)
    try:
        siren = example_output.SIRENS["siren"]
        assert siren.cfg.volume == 60
        b.read(0, "g", 5.0)
        b.read(1, "g", 25.0)  # raised
        b.engine.silence("op")
        b.engine.ack("g:A1", "op")
        b.read(5, "g", 5.0)  # cleared
        seen = [(s.annunciation.buzzer, s.annunciation.red, s.annunciation.green)
                for s in siren.states_given]  # fmt: skip
        assert seen == [
            ("off", "off", "on"),  # the first refresh
            ("continuous", "blink_fast", "off"),
            ("off", "blink_fast", "off"),  # silenced, still unacknowledged
            ("off", "on", "off"),  # acknowledged, gas still present
            ("off", "off", "on"),  # cleared
        ]
        alarms = [[(a["id"], a["state"]) for a in s.alarms] for s in siren.states_given]
        assert alarms[1] == [("g:A1", "active_unack")]
        assert alarms[3] == [("g:A1", "active_ack")]
        assert alarms[4] == []
        assert b.modes()["buzzer"] == "off" and b.modes()["green"] == "on", "GPIO followed too"
        assert b.plugins.states()["plugin:siren"] == {
            "type": "log_siren", "error": "", "mode": "off", "level": 0, "volume": 60
        }  # fmt: skip
    finally:
        b.close()
    assert siren.closed


def test_a_raising_output_is_one_fault_and_the_others_keep_working(
    kinds: output_kinds.OutputKinds,
) -> None:
    b = Box(CHANNEL + FAULTY + SIREN)
    try:
        b.read(0, "g", 25.0)
        b.engine.ack("g:A1", "op")
        b.read(1, "g", 5.0)
        assert b.state_of("g:A1") == "normal"
        assert b.modes()["red"] == "off" and b.modes()["green"] == "on"
        assert b.level("relay:valve") == 1, "fail-safe valve energised again"
        assert len(example_output.SIRENS["siren"].states_given) == 4
        assert b.faults == [("plugin:bad", "apply(): OSError: siren bus down")], "once per kind"
        bad = b.plugins.states()["plugin:bad"]
        assert bad == {
            "type": "faulty",
            "mode": "error",
            "error": "apply(): OSError: siren bus down",
        }
    finally:
        b.close()


def test_a_broken_plugin_is_reported_by_name_and_its_outputs_kept_not_run(
    kinds: output_kinds.OutputKinds,
) -> None:
    assert "ModuleNotFoundError" in kinds.failed["broken"]
    assert set(kinds.kinds) == {"log_siren", "faulty"}
    b = Box(CHANNEL + SIREN + BROKEN)
    try:
        b.read(0, "g", 25.0)
        assert b.modes()["buzzer"] == "continuous"
        assert example_output.SIRENS["siren"].states_given[-1].annunciation.buzzer == "continuous"
        pa = b.plugins.states()["plugin:pa"]
        assert pa["mode"] == "unavailable" and "no_such_module_xyz" in str(pa["error"])
    finally:
        b.close()


def test_a_plugin_cannot_take_a_builtin_name_and_must_be_a_named_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _plugins(
        monkeypatch,
        ("log_siren", "tests.example_output:FAULTY"),
        ("misnamed", "tests.example_output:KIND"),
        ("nothing", "tests.example_output:NOT_A_KIND"),
    )
    loaded = output_kinds.load_output_kinds(("tests.example_output:KIND",))
    assert list(loaded.kinds) == ["log_siren"]
    assert loaded.kinds["log_siren"] is example_output.KIND
    assert "taken by a built-in" in loaded.failed["log_siren"]
    assert "differs from the kind's type 'log_siren'" in loaded.failed["misnamed"]
    assert "is not an OutputKind" in loaded.failed["nothing"]


def _events(home: Path, kind: str) -> list[dict]:
    conn = open_reader(home)
    try:
        rows = conn.execute(
            "SELECT source, details FROM events WHERE kind = ? ORDER BY seq", (kind,)
        )
        return [{"source": s, **json.loads(d)} for s, d in rows]
    finally:
        conn.close()


def test_the_daemon_drives_reports_rebuilds_and_closes_plugin_outputs(
    home: Path, kinds: output_kinds.OutputKinds
) -> None:
    body = sim_body(interval=0.02, step_at=0.1, step_back=60.0)
    port = free_port()
    write_config(home, body + SIREN + FAULTY + BROKEN, port)
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        siren = example_output.SIRENS["siren"]
        wait_for(lambda: d.outputs.states()["buzzer"]["mode"] != "off", what="an alarm")
        wait_for(lambda: siren.states()["level"] == 1, what="the siren sounding")
        snap = get_json(f"http://127.0.0.1:{port}/api/status")
        assert snap["outputs"]["plugin:siren"]["volume"] == 60
        assert snap["outputs"]["buzzer"]["mode"] == siren.states()["mode"]
        assert snap["outputs"]["plugin:pa"]["mode"] == "unavailable"
        assert "ModuleNotFoundError" in snap["failed_output_kinds"]["broken"]
        assert "plugin:siren=" in run_cli(home, "status").output

        gpio, bad = d.outputs, d.plugin_outputs.slots["bad"].output
        write_config(home, body + SIREN.replace("60", "70") + FAULTY + BROKEN, port)
        assert d.reload("test")["changed"] == ["outputs.plugins[0].volume"]
        rebuilt = example_output.SIRENS["siren"]
        assert rebuilt is not siren and siren.closed and not rebuilt.closed
        assert rebuilt.states() == {**siren.states(), "volume": 70}, "given the current state"
        assert d.outputs is gpio and d.plugin_outputs.slots["bad"].output is bad, "not rebuilt"
    finally:
        d.stop()
    assert rebuilt.closed
    faults = [e for e in _events(home, "fault") if e["source"] == "output:plugin:bad"]
    assert len(faults) == 1 and faults[0]["error"] == "apply(): OSError: siren bus down"
    (unavailable,) = _events(home, "output_unavailable")
    assert unavailable["output"] == "pa" and "no_such_module_xyz" in unavailable["error"]
