"""``safetybox sensors verify``: the raw registers and every interpretation side by side, and a
test-gas check that names what to change in the profile. Against the project's simulator on a
real pseudo-terminal, on Modbus TCP on loopback, and through a running box that owns the port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from drivers.modbus.datatypes import DataType
from drivers.modbus.interpretations import check_test_gas, interpret
from drivers.modbus.profiles import Point, _load, shipped
from sim.modbus_slave import DeviceSim, PtySlave, Slave, TcpSlave
from tests.conftest import run_cli, wait_for, write_config
from tests.test_device_alarm import MINE

SWAPPED = {"base": 0.35, "noise": 0, "word_swap": True, "setpoints": {"A1": 0.3, "A2": 1.0}}


@pytest.fixture
def servers() -> Iterator[list]:
    made: list = []
    yield made
    for s in made:
        s.stop()


def _home(tmp_path: Path, profile: str = MINE) -> Path:
    home = tmp_path / "box"
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "mine-ch4.toml").write_text(profile, encoding="utf-8")
    return home


def _pty(servers: list, dev: DeviceSim) -> str:
    pty = PtySlave(Slave([dev])).start()
    servers.append(pty)
    return pty.path


def _verify(home: Path, port: str, *extra: str, check: bool = True) -> object:
    args = ["sensors", "verify", "--port", port, "--baud", "115200", "--unit", "5"]
    return run_cli(home, *args, "--profile", "mine-ch4", *extra, check=check)


def _by(entry: dict, name: str) -> dict:
    return next(i for i in entry["interpretations"] if f"{i['type']} {i['order']}" == name)


def test_verify_shows_every_interpretation_and_fails_a_word_swapped_test_gas(
    tmp_path: Path, servers: list
) -> None:
    home = _home(tmp_path)
    port = _pty(servers, DeviceSim(_load(MINE, "m"), 5, **SWAPPED))
    r = _verify(home, port, "--test-gas", "0.35", "--json", check=False)
    assert r.exit_code == 1, "a failed test-gas check is a failure for scripts"
    data = json.loads(r.output)
    ch4 = data["points"][0]
    assert ch4["point"] == "ch4" and ch4["hex"] == ["0x3eb3", "0x3333"]
    assert ch4["device_alarm"] == "A1"
    names = {f"{i['type']} {i['order']}" for i in ch4["interpretations"]}
    for t in ("int32", "uint32", "float32"):
        assert {f"{t} {o}" for o in ("ABCD", "CDAB", "BADC", "DCBA")} <= names
    assert {"int16 AB", "uint16 AB", "int16 BA", "uint16 BA"} <= names
    current = [i for i in ch4["interpretations"] if i["current"]]
    assert [(i["type"], i["order"]) for i in current] == [("float32", "CDAB")]
    assert f"{current[0]['value']:.3g}" == "4.17e-08"
    assert "wrong word order" in current[0]["problem"]
    assert (
        _by(ch4, "float32 ABCD")["value"] == pytest.approx(0.35)
        and not _by(ch4, "float32 ABCD")["problem"]
    )
    assert "valid range" in _by(ch4, "int32 ABCD")["problem"]
    check = ch4["check"]
    assert check["passed"] is False and check["matches"] == ["float32 ABCD"]
    assert check["advice"] == ['point ch4: set word_order = "big" (float32 ABCD)']
    assert "check" not in data["points"][1], "the test gas is for the gas point only"
    text = _verify(home, port, "--test-gas", "0.35", check=False).output
    assert "float32  CDAB" in text and "<- profile" in text
    assert "test gas 0.35 ±10 %: FAIL" in text and 'set word_order = "big"' in text
    assert "device alarm bits: A1" in text
    # The technician applies the advice: the same device now passes.
    (home / "profiles" / "mine-ch4.toml").write_text(
        MINE.replace('word_order = "little"\nunit', 'word_order = "big"\nunit')
    )
    ok = json.loads(_verify(home, port, "--test-gas", "0.35", "--json").output)
    assert ok["points"][0]["check"]["passed"] is True


def test_a_scale_or_unit_mistake_is_named_over_modbus_tcp(servers: list, tmp_path: Path) -> None:
    probe = shipped()["generic-gas-probe"]  # scaled: value register / 10^decimals register
    server = TcpSlave(Slave([DeviceSim(probe, 3, base=10.0, noise=0)])).start()
    servers.append(server)
    args = ["sensors", "verify", "--host", "127.0.0.1", "--tcp-port", str(server.port)]
    args += ["--unit", "3", "--profile", "generic-gas-probe", "--json"]
    ok = json.loads(run_cli(tmp_path, *args, "--test-gas", "10").output)
    entry = ok["points"][0]
    assert entry["unit"] == "%LEL" and entry["profile"]["decimals"] == 1
    assert entry["check"]["passed"] is True and entry["device_alarm"] == ""
    r = run_cli(tmp_path, *args, "--test-gas", "100", check=False)
    assert r.exit_code == 1
    advice = json.loads(r.output)["points"][0]["check"]["advice"]
    assert any("scale off by 10^1" in a and "scale = 10.0" in a for a in advice), advice
    ppm = json.loads(run_cli(tmp_path, *args, "--test-gas", "100000", check=False).output)
    assert any("ppm vs %VOL" in a for a in ppm["points"][0]["check"]["advice"])


def test_interpretations_flag_nan_and_denormal_floats() -> None:
    point = Point(name="x", address=0, type=DataType.FLOAT32)
    nan = {(i.type, i.order): i for i in interpret(point, [0x7FC0, 0x0000])}
    assert nan[("float32", "ABCD")].value is None
    assert nan[("float32", "ABCD")].problem == "NaN or infinity"
    assert nan[("float32", "CDAB")].problem == "denormal float"  # 0x00007FC0
    check = check_test_gas(point, list(nan.values()), 5.0, 10)
    assert check["passed"] is False and check["reading"] is None


def test_verify_through_the_running_box_that_owns_the_port(tmp_path: Path, servers: list) -> None:
    home = tmp_path / "box"
    run_cli(home, "init")
    _home(tmp_path)
    port = _pty(servers, DeviceSim(_load(MINE, "m"), 5, **SWAPPED))
    write_config(
        home,
        f"""
[[channels]]
id = "face1.ch4"
kind = "gas_vol"
unit = "%CH4"

[[drivers]]
type = "modbus"
name = "mine-bus"
port = "{port}"
baudrate = 115200
timeout_s = 0.2
[[drivers.devices]]
unit = 5
profile = "mine-ch4"
interval_s = 0.1
channels = {{ ch4 = "face1.ch4" }}
""",
    )
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        direct = _verify(home, port, check=False)
        assert direct.exit_code == 1
        assert "Read through the box instead: safetybox sensors verify face1.ch4" in direct.output
        args = ["sensors", "verify", "face1.ch4", "--test-gas", "0.35"]
        r = wait_for(
            lambda: (x := run_cli(home, *args, "--json", check=False)).exit_code == 1 and x,
            what="the box has read the device",
        )
        data = json.loads(r.output)
        assert data["via"] == "box" and data["driver"] == "mine-bus" and data["unit"] == 5
        ch4 = data["points"]
        assert [e["point"] for e in ch4] == ["ch4"], "the channel's point only"
        assert ch4[0]["device_alarm"] == "A1" and ch4[0]["check"]["matches"] == ["float32 ABCD"]
        none = run_cli(home, "sensors", "verify", "nope", check=False)
        assert none.exit_code == 1 and "no Modbus channel 'nope'" in none.output
    finally:
        d.stop()


def test_verify_help_and_json_option() -> None:
    out = run_cli(None, "sensors", "verify", "--help").output
    assert "Example" in out and "--test-gas" in out and "--json" in out and "\\b" not in out
