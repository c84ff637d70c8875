"""What a field technician meets on a real bus: fault codes and warm-up in words, CRC errors
told apart from silence, ports that cannot be set up, the box's own profiles in the field
tools, honest scans at 1200 baud, and a port the running box owns. Real pseudo-terminals and
TCP on loopback, against the project's simulator."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from box.cli import main
from box.core.errors import DriverError
from box.core.records import Quality, Reading
from box.instance import InstanceLock, lock_file_for
from box.paths import BoxHome
from drivers.modbus.driver import PROFILES_DIR, ModbusDriver, ModbusDriverConfig
from drivers.modbus.line_faults import CRC_HINT
from drivers.modbus.profiles import _load, load_profiles, shipped
from sim.modbus_slave import DeviceSim, Faults, PtySlave, Slave
from tests.conftest import run_cli, wait_for

# A coal-mine methane sensor no shipped profile covers: a word-swapped float (CDAB) at 0-1, a
# status word at 2, a fault-code register at 3, the sensor temperature at 4.
METHANE = """
name = "mine-ch4"
[[points]]
name = "ch4"
address = 0
type = "float32"
word_order = "little"
unit = "%CH4"

[[points]]
name = "temp"
address = 4
type = "int16"
scale = 0.1

[status]
address = 2
bits = { a1 = 0, a2 = 1, warmup = 3, calibration = 4 }

[[fault_codes]]
address = 3
codes = { 1 = "sensor open circuit", 2 = "sensor short", 7 = "infrared source failed" }
"""

IDENTIFY = """
[[identify]]
address = 2
mask = 0xFFE0
max = 0
"""


class Bus:
    """A simulator on a pseudo-terminal and the driver reading it; both always stopped."""

    def __init__(self, slave: Slave, cfg: dict, context: dict | None = None) -> None:
        self.pty = PtySlave(slave).start()
        self.batches: list[list[Reading]] = []
        full = {
            "type": "modbus",
            "name": "bus",
            "port": self.pty.path,
            "baudrate": 115200,
            "timeout_s": 0.2,
            "retries": 0,
            **cfg,
        }
        config = ModbusDriverConfig.model_validate(full, context=context)
        self.driver = ModbusDriver(config, self.batches.append)
        self.stop = threading.Event()
        self.driver.start()
        self.thread = threading.Thread(target=self.driver.run, args=(self.stop,))
        self.thread.start()

    def last(self, channel: str) -> Reading:
        return next(r for b in reversed(self.batches) for r in b if r.channel == channel)

    def device(self, unit: int) -> dict:
        return self.driver.diagnostics()["devices"][unit]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.driver.stop()
        self.pty.stop()


@pytest.fixture
def buses() -> Iterator[list[Bus]]:
    made: list[Bus] = []
    yield made
    for b in made:
        b.close()


def _box_profiles(tmp_path: Path, text: str = METHANE) -> Path:
    folder = tmp_path / "box" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mine-ch4.toml").write_text(text, encoding="utf-8")
    return folder


def _methane_bus(buses: list[Bus], tmp_path: Path, dev: DeviceSim) -> Bus:
    folder = _box_profiles(tmp_path)
    bus = Bus(
        Slave([dev]),
        {
            "devices": [
                {
                    "unit": 5,
                    "profile": "mine-ch4",
                    "interval_s": 0.1,
                    "channels": {"ch4": "m.ch4"},
                }
            ]
        },
        context={PROFILES_DIR: folder},
    )
    buses.append(bus)
    return bus


# -- item 4: fault codes, warm-up and calibration in words -----------------------------------


def test_fault_code_table_names_the_fault_in_reading_and_status(
    buses: list[Bus], tmp_path: Path
) -> None:
    profile = load_profiles(_box_profiles(tmp_path))["mine-ch4"]
    dev = DeviceSim(profile, 5, base=0.35, fault_code=0)
    bus = _methane_bus(buses, tmp_path, dev)
    wait_for(lambda: bus.batches and bus.last("m.ch4").quality == Quality.GOOD, what="good")
    assert bus.last("m.ch4").value == pytest.approx(0.35, abs=0.01), "CDAB float decoded"
    assert bus.device(5)["status"] == "measuring"
    dev.fault_code = 1
    wait_for(lambda: bus.last("m.ch4").quality == Quality.BAD, what="fault")
    r = bus.last("m.ch4")
    assert r.value is None and r.reason == "sensor open circuit (fault code 1)"
    assert bus.device(5)["status"] == "sensor open circuit (fault code 1)"
    dev.fault_code = 9
    wait_for(lambda: "fault code 9" in bus.last("m.ch4").reason, what="unknown code")
    assert bus.last("m.ch4").reason == "fault code 9 (not in the profile's table)"


@pytest.mark.parametrize(
    ("scenario", "words"), [("warmup", "warming up"), ("calibration", "calibration in progress")]
)
def test_warm_up_and_calibration_bits_are_reported_as_such(
    buses: list[Bus], tmp_path: Path, scenario: str, words: str
) -> None:
    profile = load_profiles(_box_profiles(tmp_path))["mine-ch4"]
    bus = _methane_bus(buses, tmp_path, DeviceSim(profile, 5, scenario=scenario, base=0.35))
    wait_for(lambda: bus.batches, what="a reading")
    r = bus.last("m.ch4")
    assert r.quality == Quality.BAD and r.reason == words
    assert bus.device(5)["status"] == words
    assert "fault" not in r.reason, "not reported as a sensor fault"


def test_the_reason_reaches_the_channel_fault_alarm() -> None:
    from tests.alarm_harness import Box

    b = Box('[[channels]]\nid = "s"\nkind = "gas_ppm"\nunit = "ppm"\n')
    try:
        b.read(0, "s", 10.0)
        why = "sensor open circuit (fault code 1)"  # (warm-up is not a fault: test_not_ready)
        b.engine.process([Reading("s", 1, None, Quality.BAD, why)])
        b.at(1)
        alarm = b.engine.alarms["s:fault"]
        assert str(alarm.state) == "active_unack"
        assert alarm.detail["reasons"] == ["quality_bad", why]
        raised = next(e for e in b.events if e.kind == "alarm_raised")
        assert why in raised.details["detail"]["reasons"]
    finally:
        b.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("codes = { 0 = 'x' }", "code 0 is in both ok and codes"),
        ("mask = 0x000F\ncodes = { 16 = 'x' }", "code 16 in codes does not fit mask 0x000f"),
        ("warmup = [3]\ncalibration = [3]", "code 3 is in both warmup and calibration"),
        ("codes = { 1 = 'x' }\nbogus = 1", "fault_codes.0.bogus: Extra inputs"),
    ],
)
def test_fault_code_tables_are_validated(table: str, message: str) -> None:
    text = 'name = "p"\n[[points]]\nname = "x"\naddress = 0\ntype = "int16"\n'
    with pytest.raises(DriverError, match=message):
        _load(text + "[[fault_codes]]\naddress = 3\n" + table + "\n", "p.toml")


def test_the_simulator_serves_fault_codes_within_the_mask() -> None:
    text = METHANE.replace("address = 3\n", "address = 3\nmask = 0x0F00\n")
    dev = DeviceSim(_load(text, "t.toml"), 1, scenario="fault")
    dev.update()
    assert dev.registers[3] == 0x0100, "lowest fault code, shifted into the mask"


# -- item 7: CRC errors are not timeouts -----------------------------------------------------


def test_crc_bad_replies_are_counted_apart_and_named(
    buses: list[Bus], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "drivers.modbus.driver")
    probe = shipped()["generic-gas-probe"]
    bus = Bus(
        Slave([DeviceSim(probe, 3), DeviceSim(probe, 4)], Faults(crc_error=1.0)),
        {
            "retries": 1,
            "devices": [
                {
                    "unit": 3,
                    "profile": "generic-gas-probe",
                    "interval_s": 0.1,
                    "channels": {"concentration": "c"},
                },
            ],
        },
    )
    buses.append(bus)
    wait_for(lambda: bus.device(3)["errors"]["crc"] >= 2, what="crc errors counted")
    d = bus.device(3)
    assert d["errors"]["timeout"] == 0, "garbled replies are not timeouts"
    assert d["last_error"] == CRC_HINT == "replies arrive but fail CRC: check baud rate and parity"
    assert bus.last("c").reason == CRC_HINT
    assert any(CRC_HINT in rec.getMessage() for rec in caplog.records)
    assert not any("No response received" in rec.getMessage() for rec in caplog.records)


def test_silence_is_a_timeout_that_says_what_to_check(buses: list[Bus]) -> None:
    probe = shipped()["generic-gas-probe"]
    bus = Bus(
        Slave([DeviceSim(probe, 3)], Faults(no_answer=1.0)),
        {
            "retries": 1,
            "devices": [
                {
                    "unit": 3,
                    "profile": "generic-gas-probe",
                    "interval_s": 0.1,
                    "channels": {"concentration": "c"},
                },
            ],
        },
    )
    buses.append(bus)
    wait_for(lambda: bus.device(3)["errors"]["timeout"] >= 2, what="timeouts")
    assert bus.device(3)["errors"]["crc"] == 0
    assert bus.device(3)["last_error"] == (
        "no answer from unit 3 within 0.2 s (2 attempts): check wiring (A/B), power and the unit id"
    )


# -- item 6: a port that cannot be set up ----------------------------------------------------


def _probe_config(port: str) -> ModbusDriverConfig:
    return ModbusDriverConfig.model_validate(
        {
            "type": "modbus",
            "name": "bus",
            "port": port,
            "baudrate": 1200,
            "parity": "E",
            "devices": [
                {"unit": 1, "profile": "generic-gas-probe", "channels": {"concentration": "x"}}
            ],
        }
    )


def test_a_port_that_cannot_be_set_up_reports_the_os_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "drivers.modbus.driver")
    not_a_tty = tmp_path / "ttyUSB0"
    not_a_tty.write_bytes(b"")  # exists and is writable, but termios refuses it
    batches: list = []
    driver = ModbusDriver(_probe_config(str(not_a_tty)), batches.append)
    stop = threading.Event()
    driver.start()
    thread = threading.Thread(target=driver.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: batches, what="a bad reading")
    finally:
        stop.set()
        thread.join(10)
        driver.stop()
    expected = f"cannot open {not_a_tty} at 1200 baud 8E1: Could not configure port: (25, "
    diag = driver.diagnostics()
    assert diag["port_error"].startswith(expected)
    assert "Inappropriate ioctl for device" in diag["devices"][1]["last_error"]
    assert "Inappropriate ioctl" in batches[0][0].reason
    assert any("Inappropriate ioctl" in rec.getMessage() for rec in caplog.records)


def test_doctor_opens_each_port_with_its_configured_settings(home: Path) -> None:
    not_a_tty = home / "ttyUSB0"
    not_a_tty.write_bytes(b"")
    (home / "box.toml").write_text(
        (home / "box.toml").read_text()
        + f"""
[[channels]]
id = "x"
kind = "gas_lel"
unit = "%LEL"
[[drivers]]
type = "modbus"
name = "mine"
port = "{not_a_tty}"
baudrate = 1200
parity = "E"
[[drivers.devices]]
unit = 1
profile = "generic-gas-probe"
channels = {{ concentration = "x" }}
"""
    )
    out = run_cli(home, "doctor", "--json", check=False)
    check = {c["name"]: c for c in json.loads(out.output)}[f"serial {not_a_tty}"]
    assert check["status"] == "fail"
    assert check["detail"].startswith("driver mine: cannot open it at 1200 baud 8E1: ")
    assert "Inappropriate ioctl for device" in check["detail"]


# -- item 5: the box's own profiles, honest identification, 1200 baud ------------------------


def test_driver_config_takes_the_profiles_folder_and_sees_new_files(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere" / "profiles"
    folder.mkdir(parents=True)
    cfg = {
        "type": "modbus",
        "name": "b",
        "port": "/dev/x",
        "devices": [{"unit": 1, "profile": "mine-ch4", "channels": {"ch4": "m"}}],
    }
    with pytest.raises(ValueError, match="unknown profile 'mine-ch4'"):
        ModbusDriverConfig.model_validate(cfg, context={PROFILES_DIR: folder})
    (folder / "m.toml").write_text(METHANE)  # added while the box runs: a reload sees it
    got = ModbusDriverConfig.model_validate(cfg, context={PROFILES_DIR: folder})
    assert got.devices[0]._profile is not None and got.devices[0]._profile.name == "mine-ch4"
    (folder / "m.toml").write_text(METHANE.replace('"%CH4"', '"%VOL"'))
    changed = ModbusDriverConfig.model_validate(cfg, context={PROFILES_DIR: folder})
    assert changed != got, "a changed profile makes a reload restart the driver"


def _start_sim(home: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "box", "--home", str(home), "sim", "modbus", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, proc.stdout.readline().strip()  # type: ignore[union-attr]


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    proc.stdout.close()  # type: ignore[union-attr]


def test_field_tools_use_the_box_profiles_and_never_guess(tmp_path: Path) -> None:
    home = tmp_path / "box"
    _box_profiles(tmp_path)
    link = tmp_path / "ttyRS485"
    proc, first = _start_sim(
        home, "--profile", "mine-ch4", "--units", "5", "--pty", "--link", str(link)
    )
    try:
        assert first.startswith("pty /dev/pts/"), first
        scan = ["sensors", "scan", "--port", str(link), "--baud", "115200", "--units", "5"]
        out = run_cli(home, *scan).output
        assert "generic-gas-probe" not in out, "a foreign device is not a generic gas probe"
        assert "unknown device, 5 holding register(s) answer" in out
        assert "docs/PROFILES.md" in out
        # The technician adds identify checks to the box's profile: the next scan names it.
        (home / "profiles" / "mine-ch4.toml").write_text(METHANE + IDENTIFY)
        found = json.loads(run_cli(home, *scan, "--json").output)
        assert found == {"devices": [{"unit": 5, "profile": "mine-ch4"}]}
        read = run_cli(
            home,
            "sensors",
            "read",
            "--port",
            str(link),
            "--baud",
            "115200",
            "--unit",
            "5",
            "--profile",
            "mine-ch4",
            "--count",
            "1",
            "--interval",
            "0.1",
        ).output
        assert "ch4=" in read and "(good)" in read
    finally:
        _stop(proc)


def test_scan_at_1200_baud_waits_long_enough_and_hints_when_nothing_answers(
    tmp_path: Path,
) -> None:
    home = tmp_path / "box"
    link = tmp_path / "ttyS1"
    proc, _ = _start_sim(
        home,
        "--profile",
        "generic-gas-probe",
        "--units",
        "3",
        "--pty",
        "--link",
        str(link),
        "--baud",
        "1200",
    )
    try:
        # Parity N: a pseudo-terminal refuses parity E on a second open (EINVAL).
        base = ["sensors", "scan", "--port", str(link), "--baud", "1200"]
        found = json.loads(run_cli(home, *base, "--units", "3", "--json").output)
        assert found == {"devices": [{"unit": 3, "profile": "generic-gas-probe"}]}
        empty = run_cli(home, *base, "--units", "1-2").output
        assert "0 device(s) found" in empty
        assert "no unit in 1-2 answered at 1200 baud, parity N, 1 stop bit(s)" in empty
        assert "wiring" in empty and "unit range" in empty
    finally:
        _stop(proc)


def test_default_timeout_scales_with_the_baud_rate() -> None:
    from drivers.modbus.scan import default_timeout

    profiles = shipped()
    slow, fast = default_timeout(1200, profiles), default_timeout(9600, profiles)
    assert slow == pytest.approx((8 + 5 + 2 * 16 + 7) * 11 / 1200 + 0.15, abs=0.01)
    assert fast < 0.25 < slow


def test_scan_of_garbled_replies_says_check_baud_and_parity(tmp_path: Path) -> None:
    probe = shipped()["generic-gas-probe"]
    pty = PtySlave(Slave([DeviceSim(probe, 3)], Faults(crc_error=1.0))).start()
    try:
        out = run_cli(
            tmp_path, "sensors", "scan", "--port", pty.path, "--units", "3", "--timeout", "0.1"
        ).output
    finally:
        pty.stop()
    assert "replies arrived that fail CRC: check baud rate and parity" in out


# -- item 8: the running box owns the port ---------------------------------------------------


def test_field_tools_say_the_running_box_owns_the_port(tmp_path: Path, buses: list[Bus]) -> None:
    home = tmp_path / "box"
    home.mkdir()
    probe = shipped()["generic-gas-probe"]
    bus = Bus(
        Slave([DeviceSim(probe, 3)]),
        {
            "devices": [
                {
                    "unit": 3,
                    "profile": "generic-gas-probe",
                    "interval_s": 0.2,
                    "channels": {"concentration": "tank1.lel"},
                }
            ]
        },
    )
    buses.append(bus)
    wait_for(lambda: bus.driver.connected, what="the box's driver holds the port")
    (home / "box.toml").write_text(
        f'config_version = 1\n[[drivers]]\ntype = "modbus"\nname = "rs485-1"\n'
        f'port = "{bus.pty.path}"\n[[drivers.devices]]\nunit = 3\n'
        'profile = "generic-gas-probe"\nchannels = { concentration = "tank1.lel" }\n'
    )
    lock = InstanceLock(lock_file_for(BoxHome.under(home).database_file))
    lock.acquire("daemon")  # the running box, as far as the field tools can tell
    try:
        port = ["--port", bus.pty.path]
        scan = run_cli(home, "sensors", "scan", *port, "--units", "3", check=False)
        read = run_cli(
            home, "sensors", "read", *port, "--unit", "3", "--profile", "generic-gas-probe",
            check=False,
        )  # fmt: skip
    finally:
        lock.release()
    for result in (scan, read):
        assert result.exit_code == 1
        assert f"{bus.pty.path} is in use by the running box (pid " in result.output
        assert "driver 'rs485-1' polls this bus" in result.output
        assert "safetybox sensors read tank1.lel" in result.output
    other = run_cli(home, "sensors", "scan", *port, "--units", "3", check=False)
    assert other.exit_code == 1 and "another program holds the port" in other.output


# -- polish ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "read", "set", "command", "set-baud", "set-unit"])
def test_sensor_help_has_no_literal_backslash_b(command: str) -> None:
    out = CliRunner().invoke(main, ["sensors", command, "--help"]).output
    assert "\\b" not in out and "\b" not in out
    assert "Example" in out


def test_read_of_a_unit_that_does_not_answer_exits_non_zero(tmp_path: Path) -> None:
    probe = shipped()["generic-gas-probe"]
    pty = PtySlave(Slave([DeviceSim(probe, 3)])).start()
    try:
        r = run_cli(
            tmp_path, "sensors", "read", "--port", pty.path, "--baud", "115200", "--unit", "9",
            "--profile", "generic-gas-probe", "--count", "2", "--interval", "0.1",
            "--timeout", "0.1", check=False,
        )  # fmt: skip
    finally:
        pty.stop()
    assert r.exit_code == 1
    assert "unit 9 gave no usable reading in 2 sample(s): no answer from unit 9" in r.output


# -- the format reference stays true ---------------------------------------------------------


def test_the_profile_reference_example_loads_and_its_word_orders_are_right() -> None:
    from drivers.modbus.datatypes import DataType, decode, encode

    doc = (Path(__file__).parent.parent / "docs" / "PROFILES.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    profile = _load(example, "PROFILES.md")
    assert profile.name == "mine-ch4" and profile.fault_codes[0].codes[1] == "sensor open circuit"
    orders = {"ABCD": ("big", "big"), "CDAB": ("little", "big"), "BADC": ("big", "little")}
    orders["DCBA"] = ("little", "little")
    for name, (word, byte) in orders.items():
        words = encode(0.35, DataType.FLOAT32, word, byte)
        assert f"| {name} | `{words[0]:#06X}` | `{words[1]:#06X}` |".replace("0X", "0x") in doc
    assert f"{decode([0x3333, 0x3EB3], DataType.FLOAT32):.3g}" == "4.17e-08"
    assert "DOMAIN" not in doc and "shared/" not in doc
