"""Device templates: one profile instantiated for many unit ids, expanded into channels and
devices and validated like written ones; errors name the template, the unit and the key."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from box.config.loader import ConfigInvalid, parse_config
from box.config.review import check
from box.config.templates import parse_units
from box.core.records import Quality
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.profiles import shipped
from sim.modbus_slave import DeviceSim, Slave, TcpSlave
from tests.conftest import run_cli, wait_for

DRIVER = """config_version = 1

[[drivers]]
type = "modbus"
name = "rs485-1"
host = "127.0.0.1"
tcp_port = {port}
"""

TEMPLATE = """
[[device_templates]]
name = "tank"
driver = "rs485-1"
units = "{units}"
device = {{ profile = "generic-gas-probe", interval_s = 1.0 }}

[device_templates.channels.concentration]
id = "tank{{unit:02d}}.lel"
name = "Tank {{unit}} LEL"
zone = "tank-{{unit:02d}}"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[device_templates.channels.concentration.alarms.thresholds]
levels = [
  {{ name = "A1", at = 20, level = 2 }},
  {{ name = "A2", at = 40, level = 1, latching = true }},
]

[device_templates.instances.7]
device = {{ interval_s = 0.5 }}
channels.concentration.zone = "pump-room"
channels.concentration.alarms.thresholds.levels = [{{ name = "A1", at = 10 }}]
"""


def doc(units: str = "1-32", extra: str = "", port: int = 502) -> str:
    text = DRIVER.format(port=port) + extra + TEMPLATE.format(units=units)
    if 7 not in parse_units(units):  # the override of unit 7 needs a unit 7
        text = text[: text.index("[device_templates.instances.7]")]
    return text


def issues_of(text: str) -> list:
    with pytest.raises(ConfigInvalid) as info:
        parse_config(text)
    return info.value.issues


def test_32_units_from_one_template_with_an_instance_override() -> None:
    cfg = parse_config(doc())
    assert [c.id for c in cfg.channels] == [f"tank{u:02d}.lel" for u in range(1, 33)]
    devices = cfg.drivers[0].devices
    assert [d.unit for d in devices] == list(range(1, 33))
    assert devices[2].channels == {"concentration": "tank03.lel"} and devices[2].interval_s == 1.0
    three, seven = cfg.channel("tank03.lel"), cfg.channel("tank07.lel")
    assert three.name == "Tank 3 LEL" and three.zone == "tank-03" and three.range == (0, 100)
    assert [(lv.name, lv.at, lv.latching) for lv in three.alarms.thresholds.levels] == [
        ("A1", 20, False),
        ("A2", 40, True),
    ]
    # Unit 7's override: its own zone, interval and A1 setpoint; A2 stays the template's.
    assert seven.zone == "pump-room" and devices[6].interval_s == 0.5
    assert [(lv.name, lv.at, lv.latching) for lv in seven.alarms.thresholds.levels] == [
        ("A1", 10, False),
        ("A2", 40, True),
    ]
    assert cfg.device_templates[0].unit_ids() == list(range(1, 33))


def test_written_devices_and_channels_stay_first_and_mix_with_templates() -> None:
    written = (
        '[[channels]]\nid = "o2.1"\nkind = "o2"\nunit = "%VOL"\n'
        '[[drivers.devices]]\nunit = 40\nprofile = "generic-gas-probe"\n'
        'channels = { concentration = "o2.1" }\n'
    )
    cfg = parse_config(doc("1-3", extra=written))
    assert [c.id for c in cfg.channels] == ["o2.1", "tank01.lel", "tank02.lel", "tank03.lel"]
    assert [d.unit for d in cfg.drivers[0].devices] == [40, 1, 2, 3]


@pytest.mark.parametrize(
    ("spec", "units"),
    [
        (7, [7]),
        ("1-4", [1, 2, 3, 4]),
        ("1-3, 9, 20-21", [1, 2, 3, 9, 20, 21]),
        ([5, "1-2"], [5, 1, 2]),
    ],
)
def test_unit_lists_and_ranges(spec, units) -> None:  # noqa: ANN001
    assert parse_units(spec) == units


def test_an_error_in_the_template_is_reported_once_at_its_line_naming_template_and_unit() -> None:
    text = doc().replace("at = 40, level = 1", "at = 40, level = 9")
    (issue,) = issues_of(text)  # 32 instances of one mistake are one report
    assert issue.dotted == (
        "device_templates[0].channels.concentration.alarms.thresholds.levels[1].level"
    )
    assert issue.reason.startswith("template 'tank' unit 1: ")
    assert text.splitlines()[issue.line - 1].startswith("levels = [")


def test_an_error_in_an_instance_override_points_at_the_override() -> None:
    text = doc().replace("device = { interval_s = 0.5 }", "device = { interval_s = 0 }")
    (issue,) = issues_of(text)
    assert issue.dotted == "device_templates[0].instances.7.device.interval_s"
    assert issue.reason.startswith("template 'tank' unit 7: ") and issue.value == 0
    assert text.splitlines()[issue.line - 1].startswith("device = { interval_s = 0 }")


def test_clashes_with_written_items_name_both_sides() -> None:
    written = (
        '[[channels]]\nid = "tank02.lel"\nkind = "gas_lel"\nunit = "%LEL"\n'
        '[[drivers.devices]]\nunit = 3\nprofile = "generic-gas-probe"\n'
        'channels = { concentration = "tank02.lel" }\n'
    )
    found = {i.dotted: i.reason for i in issues_of(doc("1-4", extra=written))}
    assert found["device_templates[0].units"] == (
        "template 'tank' unit 3: unit ids must be unique on a bus: also devices[0]"
    )
    assert found["device_templates[0].channels.concentration.id"] == (
        "template 'tank' unit 2: duplicate of channels[0]"
    )


def test_a_template_clashing_with_itself_says_which_instance() -> None:
    text = doc("1-3").replace('id = "tank{unit:02d}.lel"', 'id = "tank.lel"')
    reasons = [i.reason for i in issues_of(text)]
    assert "template 'tank' unit 2: duplicate of channels[0] (template 'tank' unit 1)" in reasons


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (('units = "1-32"', 'units = "5-1"'), "device_templates[0].units", "runs backwards"),
        (('units = "1-32"', 'units = "0-3"'), "device_templates[0].units", "outside 1..247"),
        (('units = "1-32"', 'units = "1-3, 2"'), "device_templates[0].units", "listed twice"),
        (('units = "1-32"', 'units = "tanks"'), "device_templates[0].units", "not a unit id"),
        (
            ('id = "tank{unit:02d}.lel"', 'id = "tank{unit.real}.lel"'),
            "device_templates[0].channels.concentration.id",
            "'tank{unit.real}.lel': unknown field {unit.real}",
        ),
        (
            ('name = "Tank {unit} LEL"', 'name = "Tank {unit LEL"'),
            "device_templates[0].channels.concentration.name",
            "'Tank {unit LEL':",
        ),
        (
            ('zone = "tank-{unit:02d}"', 'zone = "tank-{unit:x<2s}"'),
            "device_templates[0].channels.concentration.zone",
            "'tank-{unit:x<2s}': Unknown format code 's'",
        ),
        (
            ("[device_templates.instances.7]", "[device_templates.instances.40]"),
            "device_templates[0].instances.40",
            "unit 40 is not in units",
        ),
        (
            ('driver = "rs485-1"', 'driver = "rs485-9"'),
            "device_templates[0].driver",
            "template 'tank': no [[drivers]] named 'rs485-9' (rs485-1)",
        ),
        (
            ("channels.concentration.zone", "channels.gas.zone"),
            "device_templates[0].instances.7.channels.gas",
            "not a point of this template (points: concentration)",
        ),
        (
            ('device = { profile = "generic-gas-probe"', 'device = { profile = "nope"'),
            "device_templates[0].device.profile",
            "template 'tank' unit 1: unit 1: unknown profile 'nope'",
        ),
        (
            ("channels.concentration", "channels.gas"),
            "device_templates[0].channels",
            "template 'tank' unit 1: unit 1: profile generic-gas-probe has no point(s) ['gas']",
        ),
    ],
)
def test_template_problems_name_template_key_and_reason(change, path, message) -> None:  # noqa: ANN001
    found = issues_of(doc().replace(*change))
    assert any(i.dotted == path and message in i.reason for i in found), [
        (i.dotted, i.reason) for i in found
    ]


def test_config_show_lists_the_expansion_and_templates_on_request(tmp_path: Path) -> None:
    home = tmp_path / "box"
    home.mkdir()
    (home / "box.toml").write_text(doc(), encoding="utf-8")
    summary = run_cli(home, "config", "check").output
    assert "valid (32 channels, 1 drivers, 1 device templates)" in summary
    shown = run_cli(home, "config", "show").output
    assert shown.count("[[channels]]") == 32 and 'id = "tank32.lel"' in shown
    assert "device_templates" not in shown, "the expanded config stands alone"
    # The expansion, saved as a file, is the same config without templates.
    again = parse_config(shown)
    assert [c.id for c in again.channels] == [f"tank{u:02d}.lel" for u in range(1, 33)]
    assert again.channel("tank07.lel").zone == "pump-room"
    text = run_cli(home, "config", "show", "--templates").output
    assert "# template 'tank' on rs485-1: 32 devices, 32 channels" in text
    assert "#   unit 7: tank07.lel" in text and 'id = "tank{unit:02d}.lel"' in text
    data = json.loads(run_cli(home, "config", "show", "--templates", "--json").output)
    (tpl,) = data["device_templates"]
    assert tpl["units"] == "1-32" and tpl["expands_to"]["32"] == ["tank32.lel"]


def test_the_web_editors_check_reports_template_errors_by_template() -> None:
    # The web page's text editor and forms validate through this same check.
    issues = check(doc().replace("at = 10 }", 'at = "x" }'))
    assert [i.dotted for i in issues] == [
        "device_templates[0].instances.7.channels.concentration.alarms.thresholds.levels[0].at"
    ]
    assert check(doc()) == []


def test_devices_from_a_template_read_the_simulator_over_tcp() -> None:
    probe = shipped()["generic-gas-probe"]
    slave = Slave([DeviceSim(probe, u, base=float(u), noise=0) for u in range(1, 5)])
    tcp = TcpSlave(slave).start()
    try:
        text = doc("1-4", port=tcp.port).replace("interval_s = 1.0", "interval_s = 0.1")
        cfg = parse_config(text)
        batches: list = []
        driver = ModbusDriver(cfg.drivers[0], batches.append)
        stop = threading.Event()
        driver.start()
        thread = threading.Thread(target=driver.run, args=(stop,))
        thread.start()
        try:
            latest: dict = {}

            def all_read() -> bool:
                latest.update({r.channel: r for b in list(batches) for r in b})
                return len(latest) == 4

            wait_for(all_read, what="a reading of every templated unit")
        finally:
            stop.set()
            thread.join(10)
            driver.stop()
    finally:
        tcp.stop()
    for u in range(1, 5):
        r = latest[f"tank{u:02d}.lel"]
        assert r.quality == Quality.GOOD and r.value == pytest.approx(u, abs=0.1)


def test_the_example_in_the_docs_expands_as_described() -> None:
    text = (Path(__file__).parents[1] / "docs" / "TEMPLATES.md").read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = parse_config("config_version = 1\n" + example)
    assert len(cfg.channels) == 32 and len(cfg.drivers[0].devices) == 32
    assert cfg.channel("tank07.lel").zone == "pump-room"
    assert cfg.channel("tank32.lel").name == "Tank 32 LEL"


def test_two_templates_with_one_name_are_refused() -> None:
    second = TEMPLATE.format(units="40-41").replace("zone", "name = 'x'\nzone", 0)
    second = second[: second.index("[device_templates.instances.7]")].replace("tank{", "b{")
    found = issues_of(doc() + second)
    assert [(i.dotted, i.reason) for i in found] == [
        (
            "device_templates[1].name",
            "duplicate of device_templates[0]: template names must be unique",
        )
    ]
