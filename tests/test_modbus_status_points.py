"""Which points a status flag or fault code blanks: a gas cell's fault leaves the same
device's temperature, pressure and counter readings alone when the profile says so; without
``applies_to`` every point is blanked, as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from box.core.errors import DriverError
from box.core.records import Quality
from drivers.modbus.device_status import device_status, point_status
from drivers.modbus.driver import PROFILES_DIR
from drivers.modbus.profiles import _load, load_profiles
from sim.modbus_slave import DeviceSim, Slave
from tests.conftest import wait_for
from tests.test_modbus_field import Bus, buses  # noqa: F401 - the fixture

__all__ = ["buses"]

MULTI = """
name = "multi-gas"
[[points]]
name = "ch4"
address = 0
type = "float32"
unit = "%LEL"

[[points]]
name = "temp"
address = 2
type = "int16"
scale = 0.1

[[points]]
name = "pressure"
address = 3
type = "uint16"
scale = 0.01

[[points]]
name = "counter"
address = 4
type = "uint32"

[status]
address = 6
bits = { fault = 0, warmup = 1, inhibit = 2 }
applies_to = { fault = ["ch4"], warmup = ["ch4", "pressure"] }

[[fault_codes]]
address = 7
codes = { 1 = "gas cell open circuit" }
applies_to = ["ch4"]
"""

FAULT, WARMUP, INHIBIT = 1, 2, 4


def regs(status: int = 0, code: int = 0) -> dict[tuple[int, int], int]:
    return {(3, 6): status, (3, 7): code}


def test_each_flag_blanks_only_the_points_it_applies_to() -> None:
    p = _load(MULTI, "multi.toml")
    assert point_status(p, regs(FAULT)) == {
        "ch4": "device reports a fault",
        "temp": "",
        "pressure": "",
        "counter": "",
    }
    both = point_status(p, regs(FAULT | WARMUP))
    assert both["ch4"] == "warming up; device reports a fault"
    assert both["pressure"] == "warming up" and both["temp"] == both["counter"] == ""
    # A flag without applies_to blanks every point, as before.
    assert set(point_status(p, regs(INHIBIT)).values()) == {"alarms inhibited at the device"}
    # The fault code replaces the generic words on the point both apply to.
    assert point_status(p, regs(FAULT, code=1))["ch4"] == "gas cell open circuit (fault code 1)"
    assert point_status(p, regs(code=1))["temp"] == ""
    # The device's status names the points a partial reason blanks.
    assert device_status(p, regs(FAULT)) == "device reports a fault (ch4)"
    assert device_status(p, regs(FAULT | INHIBIT)) == (
        "device reports a fault (ch4); alarms inhibited at the device"
    )
    assert device_status(p, regs()) == ""


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            'bits = { fault = 0 }\napplies_to = { a1 = ["ch4"] }',
            "applies_to: 'a1' is not a flag that blanks points",
        ),
        (
            'bits = { fault = 0 }\napplies_to = { warmup = ["ch4"] }',
            "applies_to: flag 'warmup' has no bit in bits (or fault_mask)",
        ),
        (
            'bits = { fault = 0 }\napplies_to = { fault = ["ch5"] }',
            "status register 6: applies_to.fault: no point(s) ['ch5']; points: ch4, temp",
        ),
        (
            "bits = { fault = 0 }\napplies_to = { fault = [] }",
            "applies_to.fault: name at least one point",
        ),
        ('bits = {}\nfault_mask = 0x30\napplies_to = { fault = ["ch4"] }', None),
    ],
)
def test_applies_to_is_validated_naming_register_flag_and_point(
    status: str, message: str | None
) -> None:
    text = (
        'name = "p"\n[[points]]\nname = "ch4"\naddress = 0\ntype = "uint16"\n'
        '[[points]]\nname = "temp"\naddress = 1\ntype = "int16"\n'
        f"[status]\naddress = 6\n{status}\n"
    )
    if message is None:
        assert _load(text, "p.toml").status.points_of("fault") == {"ch4"}  # type: ignore[union-attr]
        return
    with pytest.raises(DriverError) as info:
        _load(text, "p.toml")
    assert message in str(info.value)


def test_fault_code_applies_to_names_real_points() -> None:
    text = MULTI.replace('applies_to = ["ch4"]', 'applies_to = ["gas"]')
    with pytest.raises(DriverError, match=r"fault_codes register 7: applies_to: no point\(s\)"):
        _load(text, "multi.toml")


def test_a_faulted_gas_cell_leaves_temperature_pressure_and_counter_readable(
    buses: list[Bus],  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "multi.toml").write_text(MULTI, encoding="utf-8")
    dev = DeviceSim(load_profiles(folder)["multi-gas"], 4, base=12.0, noise=0, fault_code=0)
    channels = {"ch4": "k.ch4", "temp": "k.temp", "pressure": "k.p", "counter": "k.n"}
    bus = Bus(
        Slave([dev]),
        {"devices": [{"unit": 4, "profile": "multi-gas", "interval_s": 0.1, "channels": channels}]},
        context={PROFILES_DIR: folder},
    )
    buses.append(bus)
    wait_for(lambda: bus.batches and bus.last("k.ch4").quality == Quality.GOOD, what="good")
    dev.scenario = "fault"  # the simulator sets the status word's fault bit
    wait_for(lambda: bus.last("k.ch4").quality == Quality.BAD, what="the gas cell's fault")
    gas = bus.last("k.ch4")
    assert gas.value is None and gas.reason == "device reports a fault"
    for channel in ("k.temp", "k.p", "k.n"):
        r = bus.last(channel)
        assert r.quality == Quality.GOOD and r.value == pytest.approx(12.0), channel
    assert bus.device(4)["status"] == "device reports a fault (ch4)"
    dev.fault_code = 1
    wait_for(lambda: "open circuit" in bus.last("k.ch4").reason, what="the fault code")
    assert bus.last("k.ch4").reason == "gas cell open circuit (fault code 1)"
    assert bus.last("k.temp").quality == Quality.GOOD
