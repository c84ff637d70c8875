"""Polls faster than 10 Hz: allowed on Modbus TCP and on RS-485 lines whose bus-load estimate
has room for them, refused otherwise with the bus, the estimate and the limit in the error."""

from __future__ import annotations

import pytest

from box.config.loader import ConfigInvalid, parse_config
from box.core.records import Quality
from drivers.modbus.profiles import shipped
from sim.modbus_slave import DeviceSim, Slave, TcpSlave
from tests.test_modbus import Harness, harnesses, rtu  # noqa: F401 - the fixture

__all__ = ["harnesses"]


def box_toml(where: str, interval: float, units: int = 4) -> str:
    channels = "".join(
        f'[[channels]]\nid = "c{u}"\nkind = "gas_lel"\nunit = "%LEL"\n' for u in range(1, units + 1)
    )
    devices = "".join(
        f'[[drivers.devices]]\nunit = {u}\nprofile = "generic-gas-probe"\n'
        f'interval_s = {interval}\nchannels = {{ concentration = "c{u}" }}\n'
        for u in range(1, units + 1)
    )
    driver = f'[[drivers]]\ntype = "modbus"\nname = "line-a"\n{where}\n'
    return f"config_version = 1\n{channels}{driver}{devices}"


def test_tcp_devices_may_poll_at_50_hz() -> None:
    cfg = parse_config(box_toml('host = "10.0.0.5"', 0.02, units=32))
    assert {d.interval_s for d in cfg.drivers[0].devices} == {0.02}


def test_a_fast_rs485_line_with_room_may_poll_faster_than_10_hz() -> None:
    # 4 probes of 5 registers at 20 Hz on 115200 baud: about 11 % of the line.
    cfg = parse_config(box_toml('port = "/dev/ttyUSB0"\nbaudrate = 115200', 0.05))
    assert cfg.drivers[0].devices[0].interval_s == 0.05


def test_an_rs485_line_without_room_refuses_fast_polls_naming_bus_estimate_and_limit() -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_config(box_toml('port = "/dev/ttyUSB0"\nbaudrate = 9600', 0.05))
    (issue,) = info.value.issues
    assert issue.dotted == "drivers[0].devices[0].interval_s" and issue.line is not None
    assert "bus 'line-a'" in issue.reason
    assert "/dev/ttyUSB0 at 9600 baud is 275%" in issue.reason
    assert "(limit 90%)" in issue.reason and "interval_s >= 0.1" in issue.reason


def test_10_hz_stays_allowed_on_any_line_with_a_warning_only() -> None:
    # The 10 Hz guidance: a line that cannot carry it skips polls (and says so) but the
    # config stays valid, as before.
    cfg = parse_config(box_toml('port = "/dev/ttyUSB0"\nbaudrate = 1200', 0.1))
    assert cfg.drivers[0].devices[0].interval_s == 0.1


def test_no_bus_polls_faster_than_100_hz() -> None:
    with pytest.raises(ConfigInvalid, match="greater than or equal to 0.01"):
        parse_config(box_toml('host = "10.0.0.5"', 0.005))


def test_fast_polls_over_tcp_and_rs485_read_the_simulator(harnesses: list) -> None:  # noqa: F811
    probe = shipped()["generic-gas-probe"]
    tcp = TcpSlave(Slave([DeviceSim(probe, u, base=7.0) for u in (1, 2)])).start()
    devices = [
        {
            "unit": u,
            "profile": "generic-gas-probe",
            "interval_s": 0.02,
            "channels": {"concentration": f"c{u}"},
        }
        for u in (1, 2)
    ]
    h = Harness(
        {"type": "modbus", "name": "t", "host": "127.0.0.1", "tcp_port": tcp.port}
        | {"devices": devices}
    )
    harnesses += [h, type("S", (), {"close": tcp.stop})()]  # the driver stops first
    slave = Slave([DeviceSim(probe, u, base=9.0) for u in (1, 2)], baud=115200)
    _, r = rtu(slave, harnesses, [{**d, "interval_s": 0.05} for d in devices])
    for harness, value in ((h, 7.0), (r, 9.0)):
        batches = harness.wait(20)
        assert all(x.quality == Quality.GOOD for b in batches[-4:] for x in b)
        assert batches[-1][0].value == pytest.approx(value, abs=0.3)
