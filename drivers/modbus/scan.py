"""Find responding unit ids on a bus and identify their profile where that is certain.

A profile is named only on positive identification: it has identify checks that rule out
other devices (a register that must read 0..18, not 0..65535), all of them pass, and every
register the profile reads answers. A device that answers but matches no profile that way is
reported as unknown, with how many registers answer, so a wrong profile is never suggested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pymodbus.client import ModbusBaseSyncClient
from pymodbus.exceptions import ModbusException

from drivers.modbus.driver import _blocks, exchange_s
from drivers.modbus.profiles import Profile

PROBE_SIZES = (16, 8, 4, 2, 1)  # registers from 0 tried, largest first
TURNAROUND_S = 0.15  # a device's own answer delay, on top of the wire time


def default_timeout(baudrate: int | None, profiles: dict[str, Profile]) -> float:
    """A timeout long enough for the largest read a scan makes at ``baudrate``: the wire time
    of the request and its answer (11 bits a character) plus the device's turnaround. TCP:
    0.5 s."""
    if baudrate is None:
        return 0.5
    largest = max(
        [max(PROBE_SIZES)] + [count for p in profiles.values() for _, _, count in _blocks(p)]
    )
    return round(exchange_s(baudrate, largest) + TURNAROUND_S, 2)


def _reader(client: ModbusBaseSyncClient, function: int) -> Callable[..., Any]:
    return client.read_holding_registers if function == 3 else client.read_input_registers


def probe(client: ModbusBaseSyncClient, unit: int) -> bool:
    """Does anything answer at ``unit``? An exception response counts as an answer."""
    try:
        client.read_holding_registers(0, count=1, device_id=unit)
        return True
    except ModbusException:
        return False


def _matches(client: ModbusBaseSyncClient, unit: int, p: Profile) -> bool:
    try:
        for check in p.identify:
            r = _reader(client, check.function)(check.address, count=1, device_id=unit)
            if r.isError() or not check.passes(r.registers[0]):
                return False
        for fc, start, count in _blocks(p):
            rr = _reader(client, fc)(start, count=count, device_id=unit)
            if rr.isError() or len(rr.registers) != count:
                return False
    except ModbusException:
        return False
    return True


def _chance(p: Profile) -> float:
    """How likely a device of another type passes every check by luck (register values taken
    as random): the least likely match is the most telling, so it is tried first."""
    chance = 1.0
    for c in p.identify:
        span = c.value_of(0xFFFF) + 1
        chance *= (min(c.max, span - 1) - c.min + 1) / span
    return chance


def identify(client: ModbusBaseSyncClient, unit: int, profiles: dict[str, Profile]) -> str | None:
    """The most specific profile that positively identifies the device, or None."""
    candidates = [p for p in profiles.values() if any(c.narrows for c in p.identify)]
    for p in sorted(candidates, key=lambda p: (_chance(p), p.name)):
        if _matches(client, unit, p):
            return p.name
    return None


def _reads(client: ModbusBaseSyncClient, unit: int, fc: int, count: int) -> bool:
    try:
        r = _reader(client, fc)(0, count=count, device_id=unit)
    except ModbusException:
        return False
    return not r.isError() and len(r.registers) == count


def answering_registers(client: ModbusBaseSyncClient, unit: int) -> dict[int, int]:
    """How many registers from address 0 answer, per function (3 holding, 4 input), up to
    16: halving from 16 until a read works, then bisecting up to the exact count."""
    out = {}
    for fc in (3, 4):
        works, fails = 0, max(PROBE_SIZES) + 1
        for size in PROBE_SIZES:
            if _reads(client, unit, fc, size):
                works = size
                break
            fails = size
        while works and fails - works > 1:
            mid = (works + fails) // 2
            works, fails = (mid, fails) if _reads(client, unit, fc, mid) else (works, mid)
        out[fc] = works
    return out


def scan(
    client: ModbusBaseSyncClient,
    units: Iterable[int],
    profiles: dict[str, Profile],
    progress: Callable[[int], None] = lambda unit: None,
) -> list[dict[str, Any]]:
    found = []
    for unit in units:
        progress(unit)
        if not probe(client, unit):
            continue
        name = identify(client, unit, profiles)
        entry: dict[str, Any] = {"unit": unit, "profile": name}
        if name is None:
            entry["registers"] = answering_registers(client, unit)
        found.append(entry)
    return found


def describe_unknown(entry: dict[str, Any]) -> str:
    regs = entry.get("registers", {})
    parts = [
        f"{n}{'+' if n == max(PROBE_SIZES) else ''} {kind} register(s) answer"
        for fc, kind in ((3, "holding"), (4, "input"))
        if (n := regs.get(fc, 0))
    ]
    answer = ", ".join(parts) or "it answers, but no register from 0 reads"
    return (
        f"unknown device, {answer}; no profile identifies it: write one for it "
        "(docs/PROFILES.md) and try it with 'safetybox sensors read --unit "
        f"{entry['unit']} --profile NAME'"
    )


def nothing_found_hint(bus: dict[str, Any], units: str, crc_failures: bool) -> str:
    """What to check when no unit answered a scan."""
    if "port" not in bus:
        return (
            f"no unit in {units} answered at {bus['host']}:{bus['tcp_port']}: check the unit "
            "ids the gateway forwards, and that the devices behind it are powered"
        )
    settings = f"{bus['baudrate']} baud, parity {bus['parity']}, {bus['stopbits']} stop bit(s)"
    if crc_failures:
        return (
            f"no unit in {units} answered, but replies arrived that fail CRC: check baud rate "
            f"and parity (tried {settings})"
        )
    return (
        f"no unit in {units} answered at {settings}. Check: the baud rate and parity the "
        "devices are set to (coal-mine probes often use 1200 8E1), the unit range, the wiring "
        "(A to A, B to B; swap them if unsure; 120 ohm termination at both ends of a long "
        "line) and the devices' power"
    )


def snippet(found: list[dict[str, Any]], bus: dict[str, Any], profiles: dict[str, Profile]) -> str:
    """A ``[[drivers]]`` section ready to paste into box.toml (channel ids to be named)."""
    lines = ["[[drivers]]", 'type = "modbus"', 'name = "bus1"']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in bus.items()]
    for d in found:
        lines += ["", "[[drivers.devices]]", f"unit = {d['unit']}"]
        if d["profile"] is None:
            lines.append('profile = "UNKNOWN"  # no profile identifies it: write one')
            continue
        lines.append(f'profile = "{d["profile"]}"')
        points = [pt.name for pt in profiles[d["profile"]].points]
        chans = ", ".join(f'{pt} = "u{d["unit"]}.{pt}"' for pt in points)
        lines.append(f"channels = {{ {chans} }}  # rename the channel ids, declare them")
    return "\n".join(lines) + "\n"
