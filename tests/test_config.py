"""Config validation: a table of bad documents and the messages a technician must see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from box.config.loader import ConfigInvalid, parse_config
from box.config.locate import locate
from box.config.template import render
from tests.conftest import run_cli

GOOD = render(demo=True)

CHANNEL = """
[[channels]]
id = "a.lel"
kind = "gas_lel"
unit = "%LEL"
"""

SIM = """
[[drivers]]
type = "sim"
name = "s1"
[[drivers.points]]
channel = "a.lel"
waveform = { shape = "constant", value = 1.0 }
"""


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            "config_version = 1\nbogus = 1\n",
            ["box.toml:2: bogus = 1: unknown key"],
            id="unknown-top-level-key",
        ),
        pytest.param(
            "[store]\nretention_dayz = 3\n",
            ["box.toml:2: store.retention_dayz = 3: unknown key"],
            id="typo-in-section",
        ),
        pytest.param(
            "[store]\nretention_days = -1\n",
            ["box.toml:2: store.retention_days = -1: Input should be greater than 0"],
            id="negative-retention",
        ),
        pytest.param(
            '[store]\nmax_size_mb = "big"\n',
            ["store.max_size_mb = 'big': Input should be a valid number"],
            id="wrong-type",
        ),
        pytest.param(
            '[store]\nsynchronous = "off"\n',
            ["store.synchronous = 'off': Input should be 'normal' or 'full'"],
            id="bad-enum",
        ),
        pytest.param(
            '[web]\nlisten = ["127.0.0.1"]\n',
            ["box.toml:2: web.listen = ['127.0.0.1']", "is not HOST:PORT"],
            id="no-port",
        ),
        pytest.param(
            '[web]\nlisten = ["example.com:80"]\n',
            ["'example.com' is not an IP address"],
            id="hostname",
        ),
        pytest.param(
            "config_version = 2\n", ["config_version = 2: Input should be 1"], id="future-version"
        ),
        pytest.param(
            '[[channels]]\nid = "x"\nkind = "o3"\nunit = "%"\n',
            ["box.toml:3: channels[0].kind = 'o3'", "'gas_lel'"],
            id="unknown-kind",
        ),
        pytest.param(
            '[[channels]]\nid = "x"\nkind = "o2"\n',
            ["box.toml:1: channels[0].unit = (missing): Field required"],
            id="missing-field",
        ),
        pytest.param(
            '[[channels]]\nid = "bad id!"\nkind = "o2"\nunit = "%"\n',
            ["channels[0].id = 'bad id!': String should match pattern"],
            id="bad-id",
        ),
        pytest.param(
            CHANNEL + CHANNEL,
            ["box.toml:8: channels[1].id = 'a.lel': duplicate of channels[0]"],
            id="duplicate-channel",
        ),
        pytest.param(
            CHANNEL.replace(
                '"%LEL"',
                '"%LEL"\nalarms.thresholds.levels = [{name="A1", at=9}, {name="A2", at=5}]',
            ),
            ["box.toml:6: channels[0].alarms.thresholds", "strictly increasing 'at': [9.0, 5.0]"],
            id="low-above-high",
        ),
        pytest.param(
            SIM,
            ["box.toml:6: drivers[0].points[0].channel = 'a.lel': channel 'a.lel' is not declared"],
            id="undeclared-channel",
        ),
        pytest.param(
            CHANNEL + SIM.replace('"sim"', '"simm"'),
            ["box.toml:8: drivers[0].type = 'simm'", "'sim'"],
            id="unknown-driver-type",
        ),
        pytest.param(
            CHANNEL + SIM.replace("value = 1.0", "value = 1.0, volume = 3"),
            ["box.toml:12: drivers[0].points[0].waveform.volume = 3: unknown key"],
            id="unknown-key-inline-table",
        ),
        pytest.param(
            CHANNEL + SIM.replace('shape = "constant", value = 1.0', 'shape = "sine"'),
            [
                "drivers[0].points[0].waveform.mean = (missing): Field required",
                "drivers[0].points[0].waveform.period_s = (missing)",
            ],
            id="union-variant-fields",
        ),
        pytest.param(
            CHANNEL + SIM + SIM.replace("s1", "s2"),
            ["drivers[1].points[0].channel = 'a.lel': channel 'a.lel' is also produced by 's1'"],
            id="channel-produced-twice",
        ),
        pytest.param(
            CHANNEL + 'alarms.thresholds.levels = [{name="A1", at=10}, {name="A2", at=20}]\n'
            '[[profiles]]\nname = "summer"\nsetpoints = { "a.lel" = { A1 = 25 } }\n',
            ["profiles[0].setpoints.a.lel", "no longer strictly ordered: [25.0, 20.0]"],
            id="profile-breaks-order",
        ),
        pytest.param(
            CHANNEL + '[[votes]]\nid = "v"\nchannels = ["a.lel", "b"]\nk = 3\nthreshold = "A1"\n',
            ["votes[0]", "k = 3 is more than the 2 channels"],
            id="vote-k-too-big",
        ),
        pytest.param(
            CHANNEL + '[[votes]]\nid = "v"\nchannels = ["a.lel", "b"]\nk = 2\nthreshold = "A1"\n',
            [
                "votes[0].channels[0] = 'a.lel': has no threshold level 'A1'",
                "votes[0].channels[1] = 'b': not a declared channel",
            ],
            id="vote-refs",
        ),
        pytest.param(
            CHANNEL.replace('"%LEL"', '"%LEL"\nalarms.stale_after_s = 300'),
            [
                "exceeds 100 s, the GB 50166 limit for a safety channel",
                "(safety = false) may wait longer, and it still faults when offline",
            ],
            id="safety-stale-limit",
        ),
        pytest.param(
            "[store\nx=1\n",
            ["box.toml:1: (document) = (missing): not valid TOML", "line 1"],
            id="toml-syntax",
        ),
    ],
)
def test_bad_documents_name_line_path_value_and_reason(document: str, expected: list[str]) -> None:
    if "config_version" not in document and not document.startswith("[store\n"):
        # Every file states its format; the line numbers below count from the line after it.
        document = "config_version = 1\n" + document
        expected = [
            re.sub(r"box.toml:(\d+)", lambda m: f"box.toml:{int(m[1]) + 1}", e) for e in expected
        ]
    with pytest.raises(ConfigInvalid) as info:
        parse_config(document)
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_every_problem_is_reported_at_once() -> None:
    doc = "config_version = 1\n[store]\nretention_days = -1\nmax_size_mb = 0\nbogus = 1\n"
    with pytest.raises(ConfigInvalid) as info:
        parse_config(doc)
    assert len(info.value.issues) == 3


def test_templates_are_valid_and_demo_has_a_scripted_leak() -> None:
    demo = parse_config(GOOD)
    assert len(demo.channels) == 10
    assert [d.type for d in demo.drivers] == ["modbus", "modbus", "uwb_json", "sim"]
    assert [p.name for p in demo.positioning[0].people] == ["Li Wei", "Zhang San", "Wang Fang"]
    leak = demo.drivers[3].points[0]
    assert (
        leak.waveform.shape == "step"
        and leak.waveform.after > demo.channels[0].alarms.thresholds.levels[0].at
    )
    plain = parse_config(render(demo=False))
    assert plain.channels == [] and plain.web.listen == ["127.0.0.1:8080"]


def test_defaults_are_filled_in() -> None:
    cfg = parse_config("config_version = 1\n")
    assert cfg.store.synchronous == "normal"
    assert cfg.store.retention_days == 90


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("store", "retention_days"), 4),
        (("channels", 1, "unit"), 12),
        (("channels", 1), 9),
        (("drivers", 0, "points", 1, "channel"), 20),
        (("drivers", 0, "points", 1, "waveform", "period_s"), 21),
        (("nothing",), None),
    ],
)
def test_locate_follows_tables_and_arrays_of_tables(path: tuple, line: int | None) -> None:
    text = """config_version = 1

[store]
retention_days = 3
[[channels]]
id = "a"
unit = "x"

[[channels]]
id = "b"
# a comment
unit = "y"
[[drivers]]
type = "sim"
[[drivers.points]]
channel = "a"
waveform = { shape = "sine" }

[[drivers.points]]
channel = "b"
waveform = { shape = "sine" }
"""
    assert locate(text, path) == line


def test_demo_line3_faults_60_s_after_it_goes_silent_as_the_comment_says() -> None:
    """The demo promises "goes silent for 80 s ...: an offline fault 60 s after its last
    reading": the simulator's readings, fed through the demo's own rules, must do just that."""
    from box.alarms.engine import AlarmEngine
    from drivers.simulated import sample
    from drivers.waveforms import Signal

    assert "an offline fault 60 s after its last" in GOOD
    demo = parse_config(GOOD)
    (point,) = [p for p in demo.drivers[3].points if p.channel == "line3.pressure"]
    assert demo.channel("line3.pressure").alarms.stale_after_s == 60
    t0 = 1_780_000_000.0
    clock = [t0]
    engine = AlarmEngine(demo, lambda e: None, lambda: clock[0])
    fault = engine.alarms["line3.pressure:fault"]
    raised_at = cleared_at = None
    for t in range(0, 520):
        clock[0] = t0 + t
        engine.process(sample([(point, Signal(point.waveform))], t, int(clock[0] * 1000)))
        engine.tick()
        if fault.effective and raised_at is None:
            raised_at = t
        if raised_at is not None and not fault.effective and cleared_at is None:
            cleared_at = t
    assert point.dropout is not None and point.dropout.offset_s == 400
    assert raised_at == 399 + 60, "60 s after the last reading (at 399 s), not at once"
    assert cleared_at == 480, "the first reading after the 80 s silence clears it"


def test_demo_o2_has_a_low_and_a_high_alarm_on_one_channel() -> None:
    th = parse_config(GOOD).channel("pump2.o2").alarms.thresholds
    assert th is not None
    assert [(name, at, rising) for name, at, rising in th.ladder()] == [
        ("LO", 19.5, False),
        ("LOLO", 18.0, False),
        ("HI", 23.5, True),
    ]


MODBUS = """
[[drivers]]
type = "modbus"
name = "bus"
port = "/dev/ttyUSB0"
[[drivers.devices]]
unit = 1
profile = "generic-gas-probe"
channels = { concentration = "a.lel" }
"""


def _problems(document: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as info:
        parse_config("config_version = 1\n" + document)
    return str(info.value).splitlines()[1:]


def test_cross_section_errors_come_with_field_errors_in_one_report() -> None:
    """Fixing the field errors must not reveal a second list: a duplicate id is there at once."""
    bad_kind = CHANNEL.replace('"gas_lel"', '"o3"')
    lines = _problems(CHANNEL + CHANNEL + bad_kind + "[store]\nretention_days = 0\n")
    assert any("channels[2].kind = 'o3'" in x for x in lines), lines
    assert any("store.retention_days = 0" in x for x in lines), lines
    assert any("box.toml:9: channels[1].id = 'a.lel': duplicate of channels[0]" in x for x in lines)
    assert any("channels[2].id = 'a.lel': duplicate of channels[0]" in x for x in lines), lines
    assert len(lines) == 4, lines


def test_a_channel_with_field_errors_still_counts_as_declared() -> None:
    """Its id is known, so the driver using it is not also reported as using nothing."""
    lines = _problems(CHANNEL.replace('"gas_lel"', '"o3"') + SIM)
    assert len(lines) == 1 and "channels[0].kind = 'o3'" in lines[0], lines


def test_a_driver_with_field_errors_does_not_hide_other_cross_checks() -> None:
    doc = CHANNEL + MODBUS.replace("unit = 1", "unit = 0") + SIM + SIM.replace("s1", "s2")
    lines = _problems(doc)
    assert any("drivers[0].devices[0].unit = 0: Input should be greater" in x for x in lines)
    assert any(
        "drivers[2].points[0].channel = 'a.lel': channel 'a.lel' is also" in x for x in lines
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('profile = "generic-gas-probe"', 'profile = "nope"'),
            "box.toml:14: drivers[0].devices[0].profile = 'nope': unit 1: unknown profile 'nope'",
        ),
        (
            ("concentration =", "concentrationn ="),
            "box.toml:15: drivers[0].devices[0].channels = ",
        ),
        (
            ('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nhost = "10.0.0.5"'),
            "box.toml:12: drivers[0].host = '10.0.0.5': give exactly one of port (RTU) or host",
        ),
        (
            ('port = "/dev/ttyUSB0"', ""),
            "box.toml:8: drivers[0] = (table): give exactly one of port (RTU) or host (TCP)",
        ),
    ],
    ids=["unknown-profile", "unknown-point", "port-and-host", "neither"],
)
def test_driver_errors_name_the_key_inside_the_driver(
    change: tuple[str, str], expected: str
) -> None:
    """Not the [[drivers]] header with a Python dict repr of the whole table."""
    lines = _problems(CHANNEL + MODBUS.replace(*change))
    assert any(expected in x for x in lines), lines
    assert not any("{'" in x for x in lines), lines


def test_duplicate_unit_ids_point_at_the_second_unit() -> None:
    second = '[[drivers.devices]]\nunit = 1\nprofile = "generic-gas-probe"\n'
    second += 'channels = { concentration = "b.lel" }\n'
    lines = _problems(CHANNEL + CHANNEL.replace("a.lel", "b.lel") + MODBUS + second)
    assert any(
        "box.toml:22: drivers[0].devices[1].unit = 1: unit ids must be unique on a bus: "
        "also devices[0]" in x
        for x in lines
    ), lines


MY_O2 = 'name = "my-o2"\n[[points]]\nname = "o2"\naddress = 1\ntype = "uint16"\nscale = 0.1\n'
USES_MY_O2 = (
    '[[channels]]\nid = "p.o2"\nkind = "o2"\nunit = "%VOL"\n'
    '[[drivers]]\ntype = "modbus"\nname = "bus"\nport = "/dev/ttyUSB9"\n'
    '[[drivers.devices]]\nunit = 1\nprofile = "my-o2"\nchannels = { o2 = "p.o2" }\n'
)


def test_the_daemon_validates_with_its_own_profiles_and_a_reload_sees_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No process-wide box home: a box validates with the profiles beside its box.toml, even
    when SAFETYBOX_HOME names another box, and a profile added later counts at the reload."""
    from box.paths import BoxHome
    from box.runtime.daemon import Daemon
    from tests.conftest import sim_body, write_config

    other = tmp_path / "other"
    run_cli(other, "init")
    monkeypatch.setenv("SAFETYBOX_HOME", str(other))  # a different box: must not matter
    home = tmp_path / "box"
    run_cli(home, "init")
    write_config(home, sim_body())
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        (home / "box.toml").write_text((home / "box.toml").read_text() + USES_MY_O2)
        first = d.reload(who="test")
        assert not first["accepted"] and "unknown profile 'my-o2'" in " ".join(first["errors"])
        (home / "profiles").mkdir()
        (home / "profiles" / "my-o2.toml").write_text(MY_O2)
        second = d.reload(who="test")
        assert second["accepted"], second["errors"]
    finally:
        d.stop()
    # The CLI checks a candidate file against the box's profiles, wherever the file lies.
    candidate = tmp_path / "elsewhere" / "new.toml"
    candidate.parent.mkdir()
    candidate.write_text((home / "box.toml").read_text())
    assert run_cli(home, "config", "check", str(candidate)).exit_code == 0
    assert run_cli(other, "config", "check", str(candidate), check=False).exit_code == 1
