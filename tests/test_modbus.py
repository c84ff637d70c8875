"""Modbus: decoding tables, profile validation, RTU framing, the driver over a real
pseudo-terminal and TCP against the simulator, with fault injection."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator

import pytest

from box.core.errors import DriverError
from box.core.records import Quality
from drivers.modbus.datatypes import DataType, decode, encode
from drivers.modbus.driver import ModbusDriver, ModbusDriverConfig, _blocks
from drivers.modbus.profiles import _load, shipped
from sim.modbus_slave import DeviceSim, Faults, PtySlave, Slave, TcpSlave, parse_rtu, with_crc


@pytest.mark.parametrize(
    ("words", "dtype", "word_order", "byte_order", "value"),
    [
        ([0x0064], DataType.UINT16, "big", "big", 100),
        ([0xFFFF], DataType.UINT16, "big", "big", 65535),
        ([0xFFFE], DataType.INT16, "big", "big", -2),
        ([0x6400], DataType.UINT16, "big", "little", 100),
        ([0x0001, 0x0000], DataType.UINT32, "big", "big", 65536),
        ([0x0000, 0x0001], DataType.UINT32, "little", "big", 65536),
        ([0xFFFF, 0xFFFE], DataType.INT32, "big", "big", -2),
        ([0xFEFF, 0xFFFF], DataType.INT32, "little", "little", -2),
        ([0x3F80, 0x0000], DataType.FLOAT32, "big", "big", 1.0),
        ([0x0000, 0x3F80], DataType.FLOAT32, "little", "big", 1.0),
        ([0x803F, 0x0000], DataType.FLOAT32, "big", "little", 1.0),
        ([0x0000, 0x803F], DataType.FLOAT32, "little", "little", 1.0),
        ([0x41A7, 0x3333], DataType.FLOAT32, "big", "big", 20.9),
        ([0x7FC0, 0x0000], DataType.FLOAT32, "big", "big", None),  # NaN: no invented value
        ([0x7F80, 0x0000], DataType.FLOAT32, "big", "big", None),  # +inf
    ],
)
def test_decode_every_type_and_order(words, dtype, word_order, byte_order, value) -> None:  # noqa: ANN001
    got = decode(words, dtype, word_order, byte_order)
    assert got == (pytest.approx(value, rel=1e-6) if value is not None else None)
    if value is not None:
        assert decode(
            encode(value, dtype, word_order, byte_order), dtype, word_order, byte_order
        ) == pytest.approx(value, rel=1e-6)


def test_decode_refuses_wrong_register_counts() -> None:
    with pytest.raises(ValueError, match="float32 needs 2 registers, got 1"):
        decode([1], DataType.FLOAT32)
    with pytest.raises(ValueError, match="0..65535"):
        decode([70000], DataType.UINT16)


BASE = 'name = "p"\n[[points]]\nname = "x"\naddress = 7\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'type = "int16"\nword_order = "little"\n',
            "profile t.toml: register 7 (x): word_order is illegal with type int16",
        ),
        (
            'type = "float32"\ndecimals_register = 4\n',
            "register 7 (x): decimals_register is only legal with type scaled",
        ),
        ('type = "scaled"\n', "register 7 (x): type scaled demands decimals_register"),
        ('type = "int64"\n', "points.0.type: Input should be 'int16'"),
        ('type = "int16"\nbogus = 1\n', "points.0.bogus: Extra inputs are not permitted"),
        (
            'type = "int16"\n[status]\naddress = 1\nbits = { smoke = 3 }\n',
            "status register 1: unknown flags ['smoke']",
        ),
        (
            'type = "int16"\n[[points]]\nname = "x"\naddress = 8\ntype = "int16"\n',
            "register 8 (x): duplicate point name",
        ),
    ],
)
def test_profile_validation_names_profile_register_and_field(extra: str, message: str) -> None:
    with pytest.raises(DriverError) as info:
        _load(BASE + extra, "t.toml")
    assert message in str(info.value)


def test_shipped_profiles_and_their_read_blocks() -> None:
    profiles = shipped()
    assert set(profiles) == {
        "generic-gas-probe",
        "midas-float",
        "ai4-4-20ma",
        "temperature-transmitter",
    }
    assert _blocks(profiles["generic-gas-probe"]) == [(3, 0, 5)]
    assert _blocks(profiles["midas-float"]) == [(3, 0, 4)]
    assert _blocks(profiles["ai4-4-20ma"]) == [(4, 0, 4)]


REQUEST = with_crc(bytes([3, 3, 0, 0, 0, 5]))


@pytest.mark.parametrize("junk", [b"", b"\x00", b"\xff\x13\x37", REQUEST[:5]])
def test_rtu_framing_split_at_every_byte_and_after_junk(junk: bytes) -> None:
    stream = junk + REQUEST + with_crc(bytes([7, 6, 0, 5, 0, 0xFA]))
    for cut in range(len(stream) + 1):
        buf = bytearray()
        got = []
        for part in (stream[:cut], stream[cut:]):
            buf += part
            got += parse_rtu(buf)
        assert got == [(3, bytes([3, 0, 0, 0, 5])), (7, bytes([6, 0, 5, 0, 0xFA]))], cut


def test_known_frame_from_the_domain_notes() -> None:
    """DOMAIN.md 5A: read '01 03 00 00 00 01 84 0A'; set low alarm '04 06 00 05 00 FA 19 DD'."""
    assert with_crc(bytes.fromhex("010300000001")).hex() == "010300000001840a"
    assert with_crc(bytes.fromhex("0406000500fa")).hex() == "0406000500fa19dd"


class Harness:
    def __init__(self, cfg: dict) -> None:
        self.batches: list = []
        self.driver = ModbusDriver(ModbusDriverConfig.model_validate(cfg), self.batches.append)
        self.stop = threading.Event()
        self.driver.start()
        self.thread = threading.Thread(target=self.driver.run, args=(self.stop,))
        self.thread.start()

    def wait(self, n: int) -> list:
        from tests.conftest import wait_for

        wait_for(lambda: len(self.batches) >= n, timeout=15, what=f"{n} batches")
        return self.batches

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.driver.stop()


@pytest.fixture
def harnesses() -> Iterator[list]:
    made: list = []
    yield made
    for h in made:
        h.close()


def rtu(slave: Slave, harnesses: list, devices: list[dict], **kw) -> tuple[PtySlave, Harness]:  # noqa: ANN003
    pty = PtySlave(slave).start()
    harnesses.append(type("S", (), {"close": pty.stop})())
    h = Harness(
        {
            "type": "modbus",
            "name": "bus",
            "port": pty.path,
            "baudrate": 115200,
            "timeout_s": 0.2,
            "retries": 0,
            "devices": devices,
            **kw,
        }
    )
    harnesses.append(h)
    return pty, h


def test_rtu_over_a_pty_reads_several_units(harnesses: list) -> None:
    profiles = shipped()
    slave = Slave(
        [
            DeviceSim(profiles["generic-gas-probe"], 3, base=12.5),
            DeviceSim(profiles["temperature-transmitter"], 7, base=55.0),
        ]
    )
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": 3,
                "profile": "generic-gas-probe",
                "interval_s": 0.1,
                "channels": {"concentration": "t.lel"},
            },
            {
                "unit": 7,
                "profile": "temperature-transmitter",
                "interval_s": 0.1,
                "channels": {"temperature": "p.temp"},
            },
        ],
    )
    batches = h.wait(6)
    by_channel = {r.channel: r for b in batches for r in b}
    assert by_channel["t.lel"].value == pytest.approx(12.5, abs=0.2)
    assert by_channel["p.temp"].value == pytest.approx(55.0, abs=0.5)
    assert all(r.quality == Quality.GOOD for b in batches for r in b)
    diag = h.driver.diagnostics()
    assert diag["devices"][3]["polls"] >= 3 and diag["last_frames"]


def test_tcp_float_pair_device_and_fault_bits(harnesses: list) -> None:
    profiles = shipped()
    ok = DeviceSim(profiles["midas-float"], 1, base=20.9)
    broken = DeviceSim(profiles["midas-float"], 2, scenario="fault", base=5.0)
    tcp = TcpSlave(Slave([ok, broken])).start()
    harnesses.append(type("S", (), {"close": tcp.stop})())
    h = Harness(
        {
            "type": "modbus",
            "name": "tcp",
            "host": "127.0.0.1",
            "tcp_port": tcp.port,
            "devices": [
                {
                    "unit": 1,
                    "profile": "midas-float",
                    "interval_s": 0.1,
                    "channels": {"concentration": "a"},
                },
                {
                    "unit": 2,
                    "profile": "midas-float",
                    "interval_s": 0.1,
                    "channels": {"concentration": "b"},
                },
            ],
        }
    )
    harnesses.append(h)
    batches = h.wait(6)
    a = [r for b in batches for r in b if r.channel == "a"]
    b = [r for b in batches for r in b if r.channel == "b"]
    assert a[-1].value == pytest.approx(20.9, rel=0.02) and a[-1].quality == Quality.GOOD
    assert b[-1].value is None and b[-1].quality == Quality.BAD, "fault bits: no value"
    assert "device reports a fault" in h.driver.diagnostics()["devices"][2]["last_error"]


@pytest.mark.parametrize(
    ("faults", "counter"),
    [
        (Faults(exception=2), "exception"),
        (Faults(no_answer=1.0), "timeout"),
        (Faults(crc_error=1.0), "crc"),
    ],
)
def test_fault_injection_gives_bad_quality_and_counts(
    harnesses: list, faults: Faults, counter: str
) -> None:
    slave = Slave([DeviceSim(shipped()["generic-gas-probe"], 3)], faults)
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": 3,
                "profile": "generic-gas-probe",
                "interval_s": 0.1,
                "channels": {"concentration": "c"},
            }
        ],
    )
    batches = h.wait(3)
    assert all(r.value is None and r.quality == Quality.BAD for b in batches for r in b)
    assert h.driver.diagnostics()["devices"][3]["errors"][counter] >= 2


def test_stray_bytes_on_the_line_are_survived(harnesses: list) -> None:
    slave = Slave([DeviceSim(shipped()["generic-gas-probe"], 3, base=7.0)], Faults(stray_bytes=0.5))
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": 3,
                "profile": "generic-gas-probe",
                "interval_s": 0.1,
                "channels": {"concentration": "c"},
            }
        ],
    )
    batches = h.wait(10)
    good = [r for b in batches for r in b if r.quality == Quality.GOOD]
    assert good and all(r.value == pytest.approx(7.0, abs=0.2) for r in good)


def test_4_20_ma_scaling_and_namur_ne43_bands(harnesses: list) -> None:
    dev = DeviceSim(shipped()["ai4-4-20ma"], 5)
    slave = Slave([dev])
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": 5,
                "profile": "ai4-4-20ma",
                "interval_s": 0.1,
                "channels": {"ch1": "p1", "ch2": "p2", "ch3": "p3"},
                "ma_ranges": {"ch1": [0, 2.5], "ch2": [0, 2.5], "ch3": [0, 2.5]},
            }
        ],
    )
    orig = dev.update

    def fixed() -> None:
        orig()
        dev.registers.update({0: 12000, 1: 3000, 2: 20700})  # 12 mA, 3.0 mA, 20.7 mA

    dev.update = fixed  # type: ignore[method-assign]
    batches = h.wait(5)
    last = {r.channel: r for r in batches[-1]}
    assert last["p1"].value == pytest.approx(1.25) and last["p1"].quality == Quality.GOOD
    assert last["p2"].value is None and last["p2"].quality == Quality.BAD, "< 3.6 mA: fault"
    assert last["p3"].quality == Quality.UNCERTAIN and last["p3"].value == pytest.approx(2.5)


def test_config_errors_name_unit_and_profile() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unit 3: unknown profile 'nope'"):
        ModbusDriverConfig.model_validate(
            {
                "type": "modbus",
                "name": "b",
                "port": "/dev/x",
                "devices": [{"unit": 3, "profile": "nope", "channels": {"a": "b"}}],
            }
        )
    with pytest.raises(ValidationError, match="exactly one of port"):
        ModbusDriverConfig.model_validate(
            {
                "type": "modbus",
                "name": "b",
                "devices": [
                    {"unit": 3, "profile": "generic-gas-probe", "channels": {"concentration": "b"}}
                ],
            }
        )


def test_request_pdu_layout_matches_the_simulator() -> None:
    dev = DeviceSim(shipped()["generic-gas-probe"], 1, base=10.0)
    dev.value_override = 10.0  # no noise: an exact register value
    slave = Slave([dev])
    reply = slave.answer(1, bytes([3]) + struct.pack(">HH", 0, 5))
    assert reply[:2] == bytes([3, 10]) and struct.unpack(">H", reply[2:4])[0] == 100


def _start_sim(tmp_path, *args: str):  # noqa: ANN001, ANN202
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "box", "sim", "modbus", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = proc.stdout.readline().strip()
    return proc, first


def test_sim_cli_scan_and_read(tmp_path, harnesses: list) -> None:  # noqa: ANN001
    import json
    import signal

    from tests.conftest import run_cli

    link = tmp_path / "ttyRS485"
    proc, first = _start_sim(
        tmp_path,
        "--profile",
        "generic-gas-probe",
        "--profile",
        "midas-float",
        "--units",
        "3,7",
        "--pty",
        "--link",
        str(link),
    )
    try:
        assert first.startswith("pty /dev/pts/") and str(link) in first
        out = run_cli(
            None,
            "sensors",
            "scan",
            "--port",
            str(link),
            "--baud",
            "115200",
            "--units",
            "1-8",
            "--timeout",
            "0.05",
            "--json",
        ).output
        assert json.loads(out) == {
            "devices": [
                {"unit": 3, "profile": "generic-gas-probe"},
                {"unit": 7, "profile": "midas-float"},
            ]
        }
        text = run_cli(
            None,
            "sensors",
            "scan",
            "--port",
            str(link),
            "--baud",
            "115200",
            "--units",
            "3,7",
            "--timeout",
            "0.05",
        ).output
        assert 'profile = "midas-float"' in text and "[[drivers.devices]]" in text
        read = run_cli(
            None,
            "sensors",
            "read",
            "--port",
            str(link),
            "--baud",
            "115200",
            "--unit",
            "3",
            "--profile",
            "generic-gas-probe",
            "--count",
            "2",
            "--interval",
            "0.1",
        ).output
        assert read.count("concentration=") == 2 and "(good)" in read
        bad = run_cli(None, "sensors", "scan", "--port", str(link), "--units", "0-300", check=False)
        assert bad.exit_code == 2 and "unit ids are 1..247" in bad.output
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()
    assert not link.exists(), "the simulator removes its link when stopped"


def test_unplugged_adapter_faults_then_reopens_when_it_returns(tmp_path, harnesses: list) -> None:  # noqa: ANN001
    """A USB-RS485 adapter pulled out: its device node vanishes. Emulated with a symlink
    to a pseudo-terminal that is removed, then recreated to a new one."""
    import os
    import time

    from tests.conftest import wait_for

    link = tmp_path / "ttyUSB0"
    profile = shipped()["generic-gas-probe"]
    first = PtySlave(Slave([DeviceSim(profile, 3, base=5.0)])).start()
    os.symlink(first.path, link)
    h = Harness(
        {
            "type": "modbus",
            "name": "usb",
            "port": str(link),
            "baudrate": 115200,
            "timeout_s": 0.1,
            "retries": 0,
            "devices": [
                {
                    "unit": 3,
                    "profile": "generic-gas-probe",
                    "interval_s": 0.1,
                    "channels": {"concentration": "c"},
                }
            ],
        }
    )
    harnesses.append(h)
    wait_for(lambda: any(r.quality == Quality.GOOD for b in h.batches for r in b), what="good")
    link.unlink()
    first.stop()  # unplugged
    wait_for(lambda: h.batches[-1][0].quality == Quality.BAD, what="fault while unplugged")
    second = PtySlave(Slave([DeviceSim(profile, 3, base=6.0)])).start()
    harnesses.append(type("S", (), {"close": second.stop})())
    back = time.monotonic()
    os.symlink(second.path, link)  # plugged back in
    wait_for(lambda: h.batches[-1][0].quality == Quality.GOOD, what="reading again")
    assert time.monotonic() - back < 5.0, "reopened within 5 s of the port returning"
    assert h.batches[-1][0].value == pytest.approx(6.0, abs=0.2)


@pytest.fixture
def tcp_probe() -> Iterator[tuple[Slave, int]]:
    slave = Slave(
        [DeviceSim(shipped()["generic-gas-probe"], 4), DeviceSim(shipped()["midas-float"], 9)]
    )
    server = TcpSlave(slave).start()
    yield slave, server.port
    server.stop()


def test_tool_writes_with_read_back_and_refuses_out_of_range(tcp_probe) -> None:  # noqa: ANN001
    from pymodbus.client import ModbusTcpClient

    from firmware_tools.modbus_tool import ToolError, run_command, set_setpoint

    slave, port = tcp_probe
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=1)
    assert client.connect()
    try:
        probe = shipped()["generic-gas-probe"]
        assert set_setpoint(client, 4, probe, "A1", 250) == 250
        assert slave.devices[4].registers[5] == 250
        assert set_setpoint(client, 9, shipped()["midas-float"], "A2", 12.5) == 12.5
        before = slave.requests
        with pytest.raises(ToolError, match=r"outside A1's range \[0.0, 10000.0\].*nothing was"):
            set_setpoint(client, 4, probe, "A1", 20000)
        assert slave.requests == before, "refused before anything was sent"
        with pytest.raises(ToolError, match="has no setpoint 'A3' \\(it has: A1, A2\\)"):
            set_setpoint(client, 4, probe, "A3", 1)
        run_command(client, 4, probe, "zero")
        with pytest.raises(ToolError, match="has no command 'span'"):
            run_command(client, 4, probe, "span")
    finally:
        client.close()


def test_tool_cli_confirms_and_refuses(tcp_probe) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from box.cli import main

    slave, port = tcp_probe
    args = [
        "sensors",
        "set",
        "--host",
        "127.0.0.1",
        "--tcp-port",
        str(port),
        "--unit",
        "4",
        "--profile",
        "generic-gas-probe",
        "--setpoint",
        "A1",
    ]
    r = CliRunner().invoke(main, [*args, "--value", "300"], input="n\n")
    assert r.exit_code == 1 and "nothing written" in r.output
    assert slave.devices[4].registers.get(5, 0) != 300
    r = CliRunner().invoke(main, [*args, "--value", "300", "--yes"])
    assert r.exit_code == 0 and "A1 = 300.0 (verified by read-back)" in r.output
    r = CliRunner().invoke(main, [*args, "--value", "-5", "--yes"])
    assert r.exit_code == 1 and "outside A1's range" in r.output
    r = CliRunner().invoke(main, [*args, "--value", "310", "--json"])
    assert r.exit_code == 2 and "--json needs --yes" in r.output, "a script cannot answer"
    assert slave.devices[4].registers.get(5, 0) != 310
    r = CliRunner().invoke(main, [*args, "--value", "310", "--json", "--yes"])
    assert r.exit_code == 0 and json.loads(r.output) == {
        "unit": 4,
        "setpoint": "A1",
        "value": 310.0,
        "verified": True,
    }


def test_bus_load_estimate_flags_rates_the_line_cannot_carry() -> None:
    from drivers.modbus.driver import DeviceState, bus_load, exchange_s

    profile = shipped()["generic-gas-probe"]
    cfg = ModbusDriverConfig.model_validate(
        {
            "type": "modbus",
            "name": "b",
            "port": "/dev/x",
            "baudrate": 1200,
            "devices": [
                {
                    "unit": u,
                    "profile": "generic-gas-probe",
                    "interval_s": 0.1,
                    "channels": {"concentration": f"c{u}"},
                }
                for u in range(1, 11)
            ],
        }
    )
    devices = [DeviceState(d, profile) for d in cfg.devices]
    assert exchange_s(9600, 5) == pytest.approx(30 * 11 / 9600)
    assert bus_load(cfg, devices) > 1.0, "10 probes at 10 Hz do not fit on a 1200 baud line"


def test_user_profiles_beside_box_toml_are_loaded(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from drivers.modbus.driver import profiles_for

    home = tmp_path / "box"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "mine.toml").write_text(
        'name = "my-o2"\n[[points]]\nname = "o2"\naddress = 1\ntype = "uint16"\nscale = 0.1\n'
    )
    monkeypatch.setenv("SAFETYBOX_HOME", str(home))
    assert "my-o2" in profiles_for(None) and "midas-float" in profiles_for(None)
    (home / "profiles" / "broken.toml").write_text('name = "x"\n[[points]]\nname = "y"\n')
    # No cache to clear: a file added to the folder is seen at the next look.
    with pytest.raises(DriverError, match="broken.toml: points.0.address: Field required"):
        profiles_for(None)


def test_a_late_answer_beyond_the_timeout_counts_as_a_timeout(harnesses: list) -> None:
    slave = Slave([DeviceSim(shipped()["generic-gas-probe"], 3)], Faults(late_s=0.4))
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": 3,
                "profile": "generic-gas-probe",
                "interval_s": 0.1,
                "channels": {"concentration": "c"},
            }
        ],
    )
    batches = h.wait(2)
    assert batches[0][0].quality == Quality.BAD
    assert h.driver.diagnostics()["devices"][3]["errors"]["timeout"] >= 1


def test_answers_arriving_a_byte_at_a_time_and_the_reported_unit(harnesses: list) -> None:
    slave = Slave([DeviceSim(shipped()["generic-gas-probe"], 3, base=8.0)], Faults(split=True))
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": 3,
                "profile": "generic-gas-probe",
                "interval_s": 0.1,
                "channels": {"concentration": "c"},
            }
        ],
        timeout_s=0.5,
    )
    batches = h.wait(3)
    assert batches[-1][0].quality == Quality.GOOD
    assert batches[-1][0].value == pytest.approx(8.0, abs=0.2)
    assert h.driver.diagnostics()["devices"][3]["units"] == {"concentration": "%LEL"}


def test_polls_that_do_not_fit_are_skipped_and_counted(harnesses: list) -> None:
    probe = shipped()["generic-gas-probe"]
    slave = Slave([DeviceSim(probe, u) for u in (1, 2, 3)], baud=1200)  # ~0.27 s an exchange
    _, h = rtu(
        slave,
        harnesses,
        [
            {
                "unit": u,
                "profile": "generic-gas-probe",
                "interval_s": 0.1,
                "channels": {"concentration": f"c{u}"},
            }
            for u in (1, 2, 3)
        ],
        timeout_s=1.0,
        baudrate=1200,
    )
    h.wait(6)
    d = h.driver.diagnostics()
    assert d["bus_load"] > 1.0
    assert sum(x["skipped"] for x in d["devices"].values()) > 0, "skipped, not queued"
    assert d["polls_skipped"] == sum(x["skipped"] for x in d["devices"].values())
    assert all(x["errors"]["timeout"] == 0 for x in d["devices"].values())
    # What the devices saw: no unit asked again within half an interval of its last request.
    last: dict[int, float] = {}
    for t, unit in list(slave.request_log):
        assert t - last.get(unit, -1.0) >= 0.05, f"unit {unit} polled twice at once"
        last[unit] = t


def test_baud_rate_change_needs_a_profile_that_knows_the_register(tcp_probe) -> None:  # noqa: ANN001
    from pymodbus.client import ModbusTcpClient

    from drivers.modbus.profiles import Profile
    from firmware_tools.modbus_tool import ToolError, set_baud, verify_baud

    slave, port = tcp_probe
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=1)
    assert client.connect()
    try:
        with pytest.raises(ToolError, match="does not say where the baud rate is stored"):
            set_baud(client, 4, shipped()["generic-gas-probe"], 9600)
        custom = Profile.model_validate(
            {
                **shipped()["generic-gas-probe"].model_dump(),
                "name": "probe-baud",
                "baud_register": 6,
                "baud_codes": {1200: 0, 9600: 3},
            }
        )
        with pytest.raises(ToolError, match="knows no code for 4800 baud"):
            set_baud(client, 4, custom, 4800)
        code = set_baud(client, 4, custom, 9600)
        verify_baud(client, 4, custom, code)  # TCP: the same client stands in for the new rate
        assert slave.devices[4].registers[6] == 3
    finally:
        client.close()


def test_simulator_replug_is_survived_by_the_driver(tmp_path, harnesses: list) -> None:  # noqa: ANN001
    import signal

    from tests.conftest import wait_for

    link = tmp_path / "ttyUSB0"
    proc, first = _start_sim(
        tmp_path,
        "--profile",
        "generic-gas-probe",
        "--units",
        "3",
        "--pty",
        "--link",
        str(link),
        "--replug-every",
        "1",
    )
    try:
        h = Harness(
            {
                "type": "modbus",
                "name": "usb",
                "port": str(link),
                "baudrate": 115200,
                "timeout_s": 0.1,
                "retries": 0,
                "devices": [
                    {
                        "unit": 3,
                        "profile": "generic-gas-probe",
                        "interval_s": 0.1,
                        "channels": {"concentration": "c"},
                    }
                ],
            }
        )
        harnesses.append(h)
        wait_for(lambda: h.batches and h.batches[-1][0].quality == Quality.GOOD, what="good")
        wait_for(lambda: h.batches[-1][0].quality == Quality.BAD, what="unplugged")
        wait_for(lambda: h.batches[-1][0].quality == Quality.GOOD, what="plugged back")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()


def test_set_unit_and_set_baud_cli_explain_what_a_profile_lacks(tcp_probe) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from box.cli import main

    _, port = tcp_probe
    base = [
        "--host",
        "127.0.0.1",
        "--tcp-port",
        str(port),
        "--unit",
        "4",
        "--profile",
        "generic-gas-probe",
        "--yes",
    ]
    r = CliRunner().invoke(main, ["sensors", "set-unit", *base, "--new-unit", "9"])
    assert r.exit_code == 1 and "does not say where the unit id is stored" in r.output
    r = CliRunner().invoke(main, ["sensors", "set-baud", *base, "--new-baud", "9600"])
    assert r.exit_code == 1 and "does not say where the baud rate is stored" in r.output


def test_bench_modbus_tcp_polls_its_own_profile() -> None:
    # The TCP phase's profile is in no profiles folder: the bench attaches it to each device
    # (it used to register it in a profile cache the driver no longer has, and crashed).
    from box.bench.modbus_bench import tcp

    result = tcp(0.5, units=2)
    assert result["tcp_stored"] > 0 and result["tcp_datapoints_per_s"] > 0
