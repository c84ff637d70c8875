"""``sensors scan|read|verify|set|command``: find, read and commission field devices, for a
technician at the cabinet. Every command knows the box's own profiles (``profiles/`` beside
box.toml)."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from box.cli.common import Context, json_option, pass_box, print_json, report
from box.numbers import DEFAULT_DECIMALS, shown

if TYPE_CHECKING:
    from pymodbus.client import ModbusBaseSyncClient

    from box.core.records import Record


def _range(text: str) -> list[int]:
    units: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            units += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give units like 1-247 or 3,7,10-20") from None
    if not units or any(not 1 <= u <= 247 for u in units):
        raise click.BadParameter(f"{text!r}: unit ids are 1..247")
    return units


BUS_KEYS = ("port", "host", "tcp_port", "baud", "parity", "stopbits", "timeout")


def bus_options(fn: Any) -> Any:
    """The options that name a bus, handed to the command as one ``bus`` dict."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bus = {k: kwargs.pop(k) for k in BUS_KEYS}
        return fn(*args, bus=bus, **kwargs)

    for opt in reversed(
        [
            click.option("--port", help="Serial port (RTU), e.g. /dev/ttyUSB0."),
            click.option("--host", help="Modbus TCP host."),
            click.option(
                "--tcp-port", type=click.IntRange(1, 65535), default=502, show_default=True
            ),
            click.option(
                "--baud", type=click.IntRange(300, 921600), default=9600, show_default=True
            ),
            click.option(
                "--parity", type=click.Choice(["N", "E", "O"]), default="N", show_default=True
            ),
            click.option(
                "--stopbits", type=click.Choice(["1", "2"]), default="1", show_default=True
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(0.01, 10),
                default=None,
                help="Seconds to wait for an answer [default: the wire time of the largest "
                "read at --baud plus 0.15 s; TCP 0.5].",
            ),
        ]
    ):
        wrapper = opt(wrapper)
    return wrapper


def _profiles(box: Context) -> dict[str, Any]:
    from drivers.modbus.profiles import load_profiles

    return load_profiles(box.home.profiles_dir)


def _profile(box: Context, name: str) -> Any:
    profiles = _profiles(box)
    p = profiles.get(name)
    if p is None:
        raise click.BadParameter(
            f"unknown profile {name!r}; known: {', '.join(sorted(profiles))} "
            f"(the box's own go in {box.home.profiles_dir})"
        )
    return p


def _timeout(bus: dict[str, Any], profiles: dict[str, Any]) -> float:
    """--timeout, or one that scales with the baud rate (1200 baud needs far longer)."""
    from drivers.modbus.scan import default_timeout

    if bus["timeout"] is not None:
        return float(bus["timeout"])
    return default_timeout(bus["baud"] if bus["port"] else None, profiles)


def _check_bus(bus: dict[str, Any]) -> None:
    if (bus["port"] is None) == (bus["host"] is None):
        raise click.UsageError("give exactly one of --port or --host")


def _client(
    box: Context,
    bus: dict[str, Any],
    profiles: dict[str, Any],
    trace: Any = None,
    command: str = "read",
) -> tuple[ModbusBaseSyncClient, dict[str, Any]]:
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient

    from box.cli.bus_owner import explain_open_failure

    _check_bus(bus)
    port, host, tcp_port = bus["port"], bus["host"], bus["tcp_port"]
    baud, parity, stopbits = bus["baud"], bus["parity"], bus["stopbits"]
    timeout = _timeout(bus, profiles)
    client: ModbusSerialClient | ModbusTcpClient
    if port:
        client = ModbusSerialClient(
            port,
            baudrate=baud,
            parity=parity,
            stopbits=int(stopbits),
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=trace,
        )
        settings = {"port": port, "baudrate": baud, "parity": parity, "stopbits": int(stopbits)}
    else:
        client = ModbusTcpClient(
            host or "", port=tcp_port, timeout=timeout, retries=0, reconnect_delay=0
        )
        settings = {"host": host, "tcp_port": tcp_port}
    if not client.connect():
        raise click.ClickException(explain_open_failure(box.home, bus, command))
    return client, settings


@click.group()
def sensors() -> None:
    """Find and read Modbus field devices."""


@sensors.command()
@bus_options
@click.option("--units", default="1-247", show_default=True, help="e.g. 1-247 or 3,7,10-20.")
@json_option
@pass_box
def scan(
    box: Context,
    bus: dict[str, Any],
    units: str,
    as_json: bool,
) -> None:
    """Find responding unit ids, identify their profile, print a config snippet.

    \b
    Example:
      safetybox sensors scan --port /dev/ttyUSB0 --baud 9600 --units 1-32
    """
    from drivers.modbus.line_faults import RxWatch
    from drivers.modbus.scan import describe_unknown, nothing_found_hint, snippet
    from drivers.modbus.scan import scan as do_scan

    ids = _range(units)
    profiles = _profiles(box)
    watch = RxWatch()
    client, settings = _client(box, bus, profiles, trace=watch)
    try:
        if sys.stderr.isatty() and not as_json:
            with click.progressbar(length=len(ids), label="scanning", file=sys.stderr) as bar:
                found = do_scan(client, ids, profiles, lambda u: bar.update(1))
        else:
            found = do_scan(client, ids, profiles)
    finally:
        client.close()
    hint = "" if found else nothing_found_hint(settings, units, watch.ever_received)
    if as_json:
        print_json({"devices": found, **({"hint": hint} if hint else {})})
        return
    for d in found:
        click.echo(f"unit {d['unit']:>3}: {d['profile'] or describe_unknown(d)}")
    click.echo(f"{len(found)} device(s) found\n")
    if hint:
        click.echo(hint)
        return
    click.echo(snippet(found, settings, profiles), nl=False)


@sensors.command()
@click.argument("channel", required=False)
@bus_options
@click.option("--unit", type=click.IntRange(1, 247))
@click.option("--profile")
@click.option("--count", type=click.IntRange(1, 100000), default=5, show_default=True)
@click.option("--interval", type=click.FloatRange(0.1, 60), default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample (JSON lines).")
@pass_box
def read(
    box: Context,
    channel: str | None,
    bus: dict[str, Any],
    unit: int | None,
    profile: str | None,
    count: int,
    interval: float,
    as_json: bool,
) -> None:
    """Live values: of a CHANNEL of the running box, or straight from a device.

    \b
    Examples:
      safetybox sensors read tank1.lel
      safetybox sensors read --port /dev/ttyUSB0 --unit 3 --profile generic-gas-probe
    """
    if channel:
        from box.client import BoxClient

        for _ in range(count):
            s = BoxClient(box.home).status()
            c = next((c for c in s["channels"] if c["id"] == channel), None)
            if c is None:
                raise click.ClickException(f"no channel {channel!r} on this box")
            if as_json:
                click.echo(json.dumps(c, ensure_ascii=False, default=str))
            else:
                value = shown(c["value"], c.get("decimals", DEFAULT_DECIMALS))
                click.echo(f"{c['id']}: {value} {c['unit']} ({c['quality']}, age {c['age_s']} s)")
            time.sleep(interval)
        return
    if unit is None or profile is None:
        raise click.UsageError("give a CHANNEL, or --unit and --profile with --port/--host")
    _read_device(box, bus, unit, profile, count, interval, as_json)


def _alarm_note(alarm: str | None) -> str:
    """The device's own alarm state, when its profile has alarm bits."""
    if alarm is None:
        return ""
    return f" [device alarm {alarm}]" if alarm else " [device alarm none]"


def _read_device(
    box: Context,
    bus: dict[str, Any],
    unit: int,
    profile: str,
    count: int,
    interval: float,
    as_json: bool,
) -> None:
    """Samples straight from a device, through the box's own driver code."""
    import threading

    from box.cli.bus_owner import explain_open_failure
    from box.core.records import Reading
    from drivers.modbus.driver import PROFILES_DIR, ModbusDriver, ModbusDriverConfig

    _check_bus(bus)
    points = [pt.name for pt in _profile(box, profile).points]
    if bus["port"]:
        from drivers.modbus.serial_open import serial_open_error

        if serial_open_error(bus["port"], bus["baud"], bus["parity"], int(bus["stopbits"])):
            raise click.ClickException(explain_open_failure(box.home, bus))

    where = (
        {"port": bus["port"]} if bus["port"] else {"host": bus["host"], "tcp_port": bus["tcp_port"]}
    )
    cfg = ModbusDriverConfig.model_validate(
        {
            "type": "modbus",
            "name": "read",
            **where,
            "baudrate": bus["baud"],
            "parity": bus["parity"],
            "stopbits": int(bus["stopbits"]),
            "timeout_s": _timeout(bus, _profiles(box)),
            "retries": 0,
            "devices": [
                {
                    "unit": unit,
                    "profile": profile,
                    "interval_s": interval,
                    "channels": {p: p for p in points},
                }
            ],
        },
        context={PROFILES_DIR: box.home.profiles_dir},
    )
    stop = threading.Event()
    seen = [0]
    usable = [0]

    def show(records: Sequence[Record]) -> None:
        batch = [r for r in records if isinstance(r, Reading)]  # the Modbus driver's only type
        seen[0] += 1
        usable[0] += any(r.value is not None for r in batch)
        if as_json:
            sample = {
                r.channel: {
                    "value": r.value,
                    "quality": r.quality.name.lower(),
                    "ts_ms": r.ts_ms,
                    **({} if r.device_alarm is None else {"device_alarm": r.device_alarm}),
                }
                for r in batch
            }
            click.echo(json.dumps({"unit": unit, "points": sample}))
        else:
            click.echo(
                # No channel config here: 6 significant digits, so a mis-decoded value (a
                # wrong word order gives e.g. 4.17e-08) stays visible instead of "0.00".
                "  ".join(
                    f"{r.channel}={'-' if r.value is None else f'{r.value:.6g}'} "
                    f"({r.quality.name.lower()}){_alarm_note(r.device_alarm)}"
                    for r in batch
                )
            )
        if seen[0] >= count:
            stop.set()

    driver = ModbusDriver(cfg, show)
    driver.start()
    try:
        driver.run(stop)
    finally:
        driver.stop()
    diag = driver.diagnostics()
    last_error = diag["devices"][unit]["last_error"]
    if not usable[0]:  # a script must see that nothing was read
        raise click.ClickException(
            f"unit {unit} gave no usable reading in {seen[0]} sample(s): "
            f"{last_error or diag['port_error'] or 'no answer'}"
        )
    if last_error:
        click.echo(f"last error: {last_error}", err=True)


def _device_registers(box: Context, bus: dict[str, Any], unit: int, p: Any) -> dict[Any, int]:
    """Every register the profile reads, plus the word after each 1-register point (which
    may really be half of a 32-bit value), straight from the device."""
    from pymodbus.exceptions import ModbusException

    from drivers.modbus.driver import _blocks
    from drivers.modbus.line_faults import RxWatch, describe

    watch = RxWatch()
    client, _ = _client(box, bus, _profiles(box), trace=watch, command="verify")
    regs: dict[Any, int] = {}
    try:
        reads = [(fc, start, count, True) for fc, start, count in _blocks(p)]
        reads += [(pt.function, pt.address + 1, 1, False) for pt in p.points if pt.registers() == 1]
        for fc, start, count, needed in reads:
            fn = client.read_holding_registers if fc == 3 else client.read_input_registers
            watch.begin()
            try:
                r = fn(start, count=count, device_id=unit)
            except ModbusException:
                if not needed:
                    continue
                timeout = _timeout(bus, _profiles(box))
                raise click.ClickException(describe(watch.failure(), unit, timeout, 1)) from None
            if r.isError():
                if not needed:
                    continue  # the map ends there: only 16-bit readings apply
                code = getattr(r, "exception_code", "?")
                raise click.ClickException(
                    f"unit {unit}: exception response {code} to a read of {count} register(s) "
                    f"at {start} (function {fc}): does the profile match the device?"
                )
            regs.update({(fc, start + i): w for i, w in enumerate(r.registers)})
    finally:
        client.close()
    return regs


def _box_registers(box: Context, channel: str) -> tuple[dict[str, Any], dict[Any, int]]:
    """The words the running box last read for CHANNEL's device (the box owns the port)."""
    from box.client import BoxClient

    code, data = BoxClient(box.home).call(
        "GET", f"/api/channels/{quote(channel, safe='')}/registers"
    )
    if code != 200:
        raise click.ClickException(data.get("error") or f"the box answered {code}")
    regs = {}
    for key, word in data["registers"].items():
        fc, _, address = key.partition(":")
        regs[(int(fc), int(address))] = int(word)
    return data, regs


def _show_point(entry: dict[str, Any]) -> None:
    where = f"function {entry['function']}, address {entry['address']}"
    unit = f", unit {entry['unit']}" if entry.get("unit") else ""
    click.echo(f"point {entry['point']} ({where}{unit}): registers {' '.join(entry['hex'])}")
    if "device_alarm" in entry:  # the device's own opinion, whatever the decoding says
        click.echo(f"  device alarm bits: {entry['device_alarm'] or 'none'}")
    if entry.get("error"):
        click.echo(f"  {entry['error']}")
    for i in entry["interpretations"]:
        value = "-" if i["value"] is None else f"{i['value']:.6g}"
        mark = "<- profile" if i["current"] else ""
        problem = f"implausible: {i['problem']}" if i["problem"] else ""
        click.echo(f"  {i['type']:<8} {i['order']:<5} {value:>14}  {mark:<10} {problem}".rstrip())
    check = entry.get("check")
    if check:
        verdict = "PASS" if check["passed"] else "FAIL"
        got = "-" if check["reading"] is None else f"{check['reading']:.6g}"
        click.echo(
            f"test gas {check['test_gas']:g} ±{check['tolerance_pct']:g} %: {verdict} "
            f"(the profile reads {got})"
        )
        if not check["passed"]:
            click.echo(f"  would match: {', '.join(check['matches']) or 'no interpretation'}")
            for line in check["advice"]:
                click.echo(f"  change: {line}")
            if not check["advice"]:
                click.echo(
                    "  no word order, type or scale explains it: check the test gas flow, the "
                    "gas type and the sensor's calibration"
                )


@sensors.command()
@click.argument("channel", required=False)
@bus_options
@click.option("--unit", type=click.IntRange(1, 247))
@click.option("--profile")
@click.option("--point", "point_name", help="Only this point (default: all; the test gas: the "
              "point the device's alarm bits are about, else the first).")  # fmt: skip
@click.option(
    "--test-gas", type=float, help="Known concentration applied now, in the point's unit."
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0.1, 100),
    default=10.0,
    show_default=True,
    help="With --test-gas: allowed deviation, % of the test gas.",
)
@json_option
@pass_box
def verify(
    box: Context,
    channel: str | None,
    bus: dict[str, Any],
    unit: int | None,
    profile: str | None,
    point_name: str | None,
    test_gas: float | None,
    tolerance: float,
    as_json: bool,
) -> None:
    """Commissioning check: the raw registers of each point and every plausible
    interpretation side by side (int16/uint16, int32/uint32/float32 in ABCD/CDAB/BADC/DCBA),
    the profile's marked, impossible ones flagged. With --test-gas, pass or fail against a
    known concentration (exit 1 on fail) and what to change in the profile. Give a CHANNEL to
    read through the running box (it owns the port).

    \b
    Examples:
      safetybox sensors verify --port /dev/ttyUSB0 --baud 1200 --parity E --unit 5 \\
          --profile mine-ch4 --test-gas 0.35
      safetybox sensors verify face1.ch4 --test-gas 0.35 --json
    """
    from drivers.modbus.interpretations import verify_point

    source: dict[str, Any]
    if channel:
        info, regs = _box_registers(box, channel)
        p = _profile(box, info["profile"])
        point_name = point_name or info["point"]
        unit = info["unit"]
        source = {"channel": channel, "via": "box", "driver": info["driver"]}
    else:
        if unit is None or profile is None:
            raise click.UsageError("give a CHANNEL, or --unit and --profile with --port/--host")
        p = _profile(box, profile)
        regs = _device_registers(box, bus, unit, p)
        source = {"via": "device"}
    points = [pt for pt in p.points if point_name in (None, pt.name)]
    if not points:
        names = ", ".join(pt.name for pt in p.points)
        raise click.BadParameter(f"profile {p.name} has no point {point_name!r} (points: {names})")
    gas_point = point_name or p.device_alarm_point() or p.points[0].name
    entries = [
        verify_point(p, pt, regs, test_gas if pt.name == gas_point else None, tolerance)
        for pt in points
    ]
    failed = any(e.get("check", {}).get("passed") is False for e in entries)
    if as_json:
        print_json({"unit": unit, "profile": p.name, **source, "points": entries})
    else:
        click.echo(
            f"unit {unit}, profile {p.name}"
            + (f", channel {channel} (via the box)" if channel else "")
        )
        for e in entries:
            _show_point(e)
    if failed:
        raise click.exceptions.Exit(1)


COMMANDS = [sensors]


@contextmanager
def _device(box: Context, bus: dict[str, Any], profile: str) -> Iterator[tuple[Any, Any]]:
    """A client on the bus and the device's profile; the tool's refusals (out of range, not
    in the profile, no answer) become one-line errors, and the port is always closed."""
    from firmware_tools.modbus_tool import ToolError

    p = _profile(box, profile)
    client, _ = _client(box, bus, _profiles(box))
    try:
        yield client, p
    except ToolError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()


def _confirm(yes: bool, as_json: bool, what: str) -> None:
    if as_json and not yes:
        # The question would corrupt the JSON and a script cannot answer it.
        raise click.UsageError(f"--json needs --yes (to {what} without asking)")
    if not yes and not click.confirm(f"{what}?", default=False):
        raise click.ClickException("nothing written")


@sensors.command(name="set")
@bus_options
@click.option("--unit", type=click.IntRange(1, 247), required=True)
@click.option("--profile", required=True)
@click.option("--setpoint", "name", required=True, help="e.g. A1")
@click.option("--value", type=float, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_box
def set_cmd(
    box: Context,
    bus: dict[str, Any],
    unit: int,
    profile: str,
    name: str,
    value: float,
    yes: bool,
    as_json: bool,
) -> None:
    """Write a detector's alarm setpoint (checked against the profile), then read it back.

    \b
    Example:
      safetybox sensors set --port /dev/ttyUSB0 --unit 4 --profile generic-gas-probe \\
          --setpoint A1 --value 250
    """
    from firmware_tools.modbus_tool import plan_setpoint, set_setpoint

    with _device(box, bus, profile) as (client, p):
        plan_setpoint(p, name, value)  # refuse before asking
        _confirm(yes, as_json, f"write {name} = {value} to unit {unit}")
        got = set_setpoint(client, unit, p, name, value)
    report(
        as_json,
        {"unit": unit, "setpoint": name, "value": got, "verified": True},
        f"unit {unit}: {name} = {got} (verified by read-back)",
    )


@sensors.command(name="command")
@bus_options
@click.option("--unit", type=click.IntRange(1, 247), required=True)
@click.option("--profile", required=True)
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_box
def command_cmd(
    box: Context,
    bus: dict[str, Any],
    unit: int,
    profile: str,
    name: str,
    yes: bool,
    as_json: bool,
) -> None:
    """Send a profile command (zero, span, reset...) to a detector.

    \b
    Example:
      safetybox sensors command --port /dev/ttyUSB0 --unit 4 --profile generic-gas-probe zero
    """
    from firmware_tools.modbus_tool import run_command

    with _device(box, bus, profile) as (client, p):
        if not any(c.name == name for c in p.commands):
            run_command(client, unit, p, name)  # raises with the list of commands
        _confirm(yes, as_json, f"send {name} to unit {unit}")
        run_command(client, unit, p, name)
    report(
        as_json, {"unit": unit, "command": name, "accepted": True}, f"unit {unit}: {name} accepted"
    )


@sensors.command(name="set-unit")
@bus_options
@click.option("--unit", type=click.IntRange(1, 247), required=True)
@click.option("--profile", required=True)
@click.option("--new-unit", type=click.IntRange(1, 247), required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_box
def set_unit_cmd(
    box: Context,
    bus: dict[str, Any],
    unit: int,
    profile: str,
    new_unit: int,
    yes: bool,
    as_json: bool,
) -> None:
    """Change a detector's unit id (where its profile says where it is stored), then check it
    answers at the new id.

    \b
    Example:
      safetybox sensors set-unit --port /dev/ttyUSB0 --unit 1 --profile P --new-unit 7
    """
    from firmware_tools.modbus_tool import set_unit_id

    with _device(box, bus, profile) as (client, p):
        if p.address_register is None:
            set_unit_id(client, unit, p, new_unit)  # raises the explanation
        _confirm(yes, as_json, f"change unit {unit} to unit {new_unit}")
        set_unit_id(client, unit, p, new_unit)
    report(
        as_json,
        {"unit": unit, "new_unit": new_unit, "verified": True},
        f"unit {unit} now answers as unit {new_unit}",
    )


@sensors.command(name="set-baud")
@bus_options
@click.option("--unit", type=click.IntRange(1, 247), required=True)
@click.option("--profile", required=True)
@click.option("--new-baud", type=click.IntRange(300, 921600), required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_box
def set_baud_cmd(
    box: Context,
    bus: dict[str, Any],
    unit: int,
    profile: str,
    new_baud: int,
    yes: bool,
    as_json: bool,
) -> None:
    """Change a detector's baud rate (where its profile gives the register and codes), then
    reopen the port at the new rate and read it back.

    \b
    Example:
      safetybox sensors set-baud --port /dev/ttyUSB0 --unit 3 --profile P --new-baud 9600
    """
    from firmware_tools.modbus_tool import set_baud, verify_baud

    with _device(box, bus, profile) as (client, p):
        if p.baud_register is None or new_baud not in p.baud_codes:
            set_baud(client, unit, p, new_baud)  # raises the explanation
        _confirm(yes, as_json, f"change unit {unit} to {new_baud} baud")
        code = set_baud(client, unit, p, new_baud)
    reopened = {**bus, "baud": new_baud} if bus["port"] else bus  # serial: at the new rate
    with _device(box, reopened, profile) as (client, p):
        verify_baud(client, unit, p, code)
    report(
        as_json,
        {"unit": unit, "baud": new_baud, "verified": True},
        f"unit {unit} now answers at {new_baud} baud",
    )
