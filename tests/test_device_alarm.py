"""The device's own alarm bits reach the box with every reading of its channel, and the
simulator reproduces the wrong-word-order install of issue 12 item 2: the box decodes 0.35 %CH4
as ~4e-08 with good quality while the device itself says A1, then A2. Real pseudo-terminals
and Modbus TCP on loopback, against the project's simulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.errors import DriverError
from box.core.records import Quality, Reading
from drivers.modbus.driver import PROFILES_DIR, ModbusDriver, ModbusDriverConfig
from drivers.modbus.profiles import _load, shipped
from sim.modbus_slave import DeviceSim, Slave, TcpSlave
from tests.conftest import run_cli, wait_for
from tests.test_modbus_field import Bus, _start_sim, _stop

# The methane sensor of issue 12 with its own setpoints: float CDAB at 0-1, status word at 2
# (a1 bit 0, a2 bit 1), temperature at 4, A1 and A2 as CDAB floats at 10 and 12.
MINE = """
name = "mine-ch4"
[[points]]
name = "ch4"
address = 0
type = "float32"
word_order = "little"
unit = "%CH4"
valid = [0.0, 100.0]

[[points]]
name = "temp"
address = 4
type = "int16"
scale = 0.1

[status]
address = 2
bits = { a1 = 0, a2 = 1, warmup = 3 }

[[setpoints]]
name = "A1"
address = 10
type = "float32"
word_order = "little"
min = 0.0
max = 4.0

[[setpoints]]
name = "A2"
address = 12
type = "float32"
word_order = "little"
min = 0.0
max = 4.0
"""


@pytest.fixture
def buses() -> Iterator[list[Bus]]:
    made: list[Bus] = []
    yield made
    for b in made:
        b.close()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "box" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mine-ch4.toml").write_text(MINE, encoding="utf-8")
    return folder


def _mine_bus(buses: list[Bus], tmp_path: Path, dev: DeviceSim) -> Bus:
    channels = {"ch4": "face1.ch4", "temp": "face1.temp"}
    cfg = {"devices": [{"unit": 5, "profile": "mine-ch4", "interval_s": 0.1, "channels": channels}]}
    bus = Bus(Slave([dev]), cfg, context={PROFILES_DIR: _folder(tmp_path)})
    buses.append(bus)
    return bus


def _fresh(bus: Bus, channel: str, predicate: object = bool) -> Reading:
    """The first reading of ``channel`` after now that satisfies ``predicate``."""
    start = len(bus.batches)

    def found() -> Reading | None:
        for batch in bus.batches[start:]:
            for r in batch:
                if r.channel == channel and predicate(r):  # type: ignore[operator]
                    return r
        return None

    return wait_for(found, timeout=10, what=f"a reading of {channel}")


def test_word_swapped_value_is_absurd_while_the_device_says_a1_then_a2(
    buses: list[Bus], tmp_path: Path
) -> None:
    profile = _load(MINE, "mine")
    dev = DeviceSim(
        profile, 5, base=0.35, noise=0, word_swap=True, setpoints={"A1": 0.3, "A2": 1.0}
    )
    bus = _mine_bus(buses, tmp_path, dev)
    r = _fresh(bus, "face1.ch4")
    # The evidence the engine needs: the decoded value is nonsense with good quality ...
    assert r.quality == Quality.GOOD and r.value is not None
    assert f"{r.value:.3g}" == "4.17e-08"  # 0.35 %CH4 read in the wrong word order
    # ... while the device's own alarm bits say it is above its A1 setpoint.
    assert r.device_alarm == "A1"
    # The status word is device-wide, but its alarm bits are about the gas, not the temperature.
    assert bus.last("face1.temp").device_alarm is None
    dev.value_override = 1.18  # above the power-off setpoint of the issue
    r = _fresh(bus, "face1.ch4", lambda r: r.device_alarm == "A2")
    assert r.value is not None and abs(r.value) < 1e-3 and r.quality == Quality.GOOD
    dev.value_override = 0.1
    r = _fresh(bus, "face1.ch4", lambda r: r.device_alarm == "")
    assert r.device_alarm == "", "no alarm is the empty string, not None"


def test_the_right_word_order_decodes_the_value_with_the_same_alarm_bits(
    buses: list[Bus], tmp_path: Path
) -> None:
    dev = DeviceSim(_load(MINE, "mine"), 5, base=0.35, setpoints={"A1": 0.3, "A2": 1.0})
    r = _fresh(_mine_bus(buses, tmp_path, dev), "face1.ch4")
    assert r.value == pytest.approx(0.35, rel=0.05) and r.device_alarm == "A1"


def test_device_alarm_is_reported_with_bad_readings_and_unknown_without_alarm_bits(
    buses: list[Bus], tmp_path: Path
) -> None:
    # Warming up: no value, but the device's alarm state still travels with the reading.
    dev = DeviceSim(_load(MINE, "mine"), 5, "warmup", base=2.0, setpoints={"A1": 0.3})
    r = _fresh(_mine_bus(buses, tmp_path, dev), "face1.ch4")
    assert r.quality == Quality.BAD and r.reason == "warming up" and r.device_alarm == "A1"
    # A profile with no alarm bits: the device's opinion is unknown (None), never "no alarm".
    temp = shipped()["temperature-transmitter"]
    bus = Bus(
        Slave([DeviceSim(temp, 2, base=20.0)]),
        {"devices": [{"unit": 2, "profile": temp.name, "channels": {"temperature": "t"}}]},
    )
    buses.append(bus)
    assert _fresh(bus, "t").device_alarm is None


def test_device_alarm_over_modbus_tcp_with_a_float_transmitter() -> None:
    midas = shipped()["midas-float"]  # a1 bit 6, a2 bit 7, big-endian float setpoints
    dev = DeviceSim(midas, 1, base=60.0, setpoints={"A1": 50.0, "A2": 100.0})
    server = TcpSlave(Slave([dev])).start()
    batches: list[list[Reading]] = []
    ch = {"concentration": "h2s"}
    cfg = ModbusDriverConfig.model_validate(
        {
            "type": "modbus",
            "name": "tcp",
            "host": "127.0.0.1",
            "tcp_port": server.port,
            "timeout_s": 0.5,
            "devices": [{"unit": 1, "profile": "midas-float", "interval_s": 0.1, "channels": ch}],
        }
    )
    driver = ModbusDriver(cfg, batches.append)
    stop = threading.Event()
    driver.start()
    thread = threading.Thread(target=driver.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: any(r.device_alarm == "A1" for b in batches for r in b), what="A1")
        dev.value_override = 120.0
        wait_for(lambda: batches[-1][0].device_alarm == "A2", what="A2")
        assert batches[-1][0].value == pytest.approx(120.0)
    finally:
        stop.set()
        thread.join(10)
        driver.stop()
        server.stop()


def test_alarm_point_must_name_a_point() -> None:
    with pytest.raises(DriverError, match="alarm_point 'gas': no point has that name"):
        _load(_aliased("gas"), "m")
    assert _load(_aliased("temp"), "m").device_alarm_point() == "temp"
    assert _load(MINE, "m").device_alarm_point() == "ch4"  # default: the first point
    assert shipped()["temperature-transmitter"].device_alarm_point() is None


def _aliased(point: str) -> str:
    return f'alarm_point = "{point}"\n' + MINE


def test_the_simulator_cli_serves_a_word_swapped_float_with_alarm_bits(tmp_path: Path) -> None:
    home = tmp_path / "box"
    _folder(tmp_path)
    link = tmp_path / "ttyRS485"
    proc, first = _start_sim(
        home, "--profile", "mine-ch4", "--units", "5", "--pty", "--link", str(link),
        "--base", "0.35", "--noise", "0", "--word-swap",
        "--setpoint", "A1=0.3", "--setpoint", "A2=1.0",
    )  # fmt: skip
    try:
        assert first.startswith("pty /dev/pts/"), first
        args = ["sensors", "read", "--port", str(link), "--baud", "115200", "--unit", "5"]
        args += ["--profile", "mine-ch4", "--count", "1", "--interval", "0.1"]
        sample = json.loads(run_cli(home, *args, "--json").output)["points"]
        assert f"{sample['ch4']['value']:.3g}" == "4.17e-08" and sample["ch4"]["quality"] == "good"
        assert sample["ch4"]["device_alarm"] == "A1" and "device_alarm" not in sample["temp"]
        text = run_cli(home, *args).output
        assert "(good) [device alarm A1]" in text
    finally:
        _stop(proc)
    bad = run_cli(home, "sim", "modbus", "--profile", "mine-ch4", "--units", "5", "--pty",
                  "--setpoint", "A9=1", check=False)  # fmt: skip
    assert bad.exit_code == 2 and "no setpoint 'A9'" in bad.output
