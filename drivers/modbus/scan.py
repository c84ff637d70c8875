"""Find responding unit ids on a bus and identify their profile where possible."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pymodbus.exceptions import ModbusException

from drivers.modbus.driver import _blocks
from drivers.modbus.profiles import Profile


def probe(client: Any, unit: int) -> bool:
    """Does anything answer at ``unit``? An exception response counts as an answer."""
    try:
        client.read_holding_registers(0, count=1, device_id=unit)
        return True
    except ModbusException:
        return False


def identify(client: Any, unit: int, profiles: dict[str, Profile]) -> str | None:
    """The first profile whose identify register is in range and whose blocks all read."""
    # Most specific first: a unit-code register that must read 0..18 says more than 0..65535.
    ranked = sorted(
        profiles.items(),
        key=lambda kv: (
            kv[1].identify.max - kv[1].identify.min if kv[1].identify else 1 << 17,
            kv[0],
        ),
    )
    for name, p in ranked:
        if p.identify is None:
            continue
        try:
            fn = (
                client.read_holding_registers
                if p.identify.function == 3
                else client.read_input_registers
            )
            r = fn(p.identify.address, count=1, device_id=unit)
            if r.isError() or not p.identify.min <= r.registers[0] <= p.identify.max:
                continue
            ok = True
            for fc, start, count in _blocks(p):
                fn = client.read_holding_registers if fc == 3 else client.read_input_registers
                rr = fn(start, count=count, device_id=unit)
                if rr.isError() or len(rr.registers) != count:
                    ok = False
                    break
            if ok:
                return name
        except ModbusException:
            continue
    return None


def scan(
    client: Any,
    units: Iterable[int],
    profiles: dict[str, Profile],
    progress: Callable[[int], None] = lambda unit: None,
) -> list[dict[str, Any]]:
    found = []
    for unit in units:
        progress(unit)
        if probe(client, unit):
            found.append({"unit": unit, "profile": identify(client, unit, profiles)})
    return found


def snippet(found: list[dict[str, Any]], bus: dict[str, Any], profiles: dict[str, Profile]) -> str:
    """A ``[[drivers]]`` section ready to paste into box.toml (channel ids to be named)."""
    lines = ["[[drivers]]", 'type = "modbus"', 'name = "bus1"']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in bus.items()]
    for d in found:
        lines += ["", "[[drivers.devices]]", f"unit = {d['unit']}"]
        if d["profile"] is None:
            lines.append('profile = "UNKNOWN"  # no shipped profile matched: write one')
            continue
        lines.append(f'profile = "{d["profile"]}"')
        points = [pt.name for pt in profiles[d["profile"]].points]
        chans = ", ".join(f'{pt} = "u{d["unit"]}.{pt}"' for pt in points)
        lines.append(f"channels = {{ {chans} }}  # rename the channel ids, declare them")
    return "\n".join(lines) + "\n"
