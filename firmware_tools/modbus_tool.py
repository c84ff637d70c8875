"""Field tool: change a detector's unit id, set alarm setpoints, run zero/span commands.

Every write is checked against the profile first (a value outside the profile's range is
refused before anything is sent), asks for confirmation unless told not to, and is verified by
reading it back. Also reachable as ``safetybox sensors set|command|set-unit``.
"""

from __future__ import annotations

from pymodbus.client import ModbusBaseSyncClient
from pymodbus.exceptions import ModbusException

from drivers.modbus.datatypes import DataType, decode, encode
from drivers.modbus.profiles import Profile


class ToolError(ValueError):
    """A write that is refused or failed; the message says why."""


def _write(client: ModbusBaseSyncClient, unit: int, address: int, words: list[int]) -> None:
    try:
        if len(words) == 1:
            r = client.write_register(address, words[0], device_id=unit)
        else:
            r = client.write_registers(address, words, device_id=unit)
    except ModbusException as exc:
        raise ToolError(f"unit {unit}: no valid answer to the write: {exc}") from None
    if r.isError():
        raise ToolError(f"unit {unit}: the device refused the write ({r})")


def plan_setpoint(profile: Profile, name: str, value: float) -> tuple[int, list[int]]:
    """Address and register words for a setpoint, or ToolError if the profile forbids it."""
    sp = next((s for s in profile.setpoints if s.name == name), None)
    if sp is None:
        names = ", ".join(s.name for s in profile.setpoints) or "none"
        raise ToolError(f"profile {profile.name} has no setpoint {name!r} (it has: {names})")
    if not sp.min <= value <= sp.max:
        raise ToolError(
            f"{value} is outside {name}'s range [{sp.min}, {sp.max}] in profile "
            f"{profile.name}; nothing was written"
        )
    raw = value / sp.scale
    return sp.address, encode(raw, DataType(sp.type), sp.word_order or "big")


def set_setpoint(
    client: ModbusBaseSyncClient, unit: int, profile: Profile, name: str, value: float
) -> float:
    address, words = plan_setpoint(profile, name, value)
    sp = next(s for s in profile.setpoints if s.name == name)
    _write(client, unit, address, words)
    back = client.read_holding_registers(address, count=len(words), device_id=unit)
    if back.isError() or list(back.registers) != words:
        raise ToolError(
            f"unit {unit}: read-back of {name} gave {getattr(back, 'registers', back)},"
            f" expected {words}: the device did not take the value"
        )
    got = decode(list(back.registers), DataType(sp.type), sp.word_order or "big")
    return (got or 0.0) * sp.scale


def run_command(client: ModbusBaseSyncClient, unit: int, profile: Profile, name: str) -> None:
    cmd = next((c for c in profile.commands if c.name == name), None)
    if cmd is None:
        names = ", ".join(c.name for c in profile.commands) or "none"
        raise ToolError(f"profile {profile.name} has no command {name!r} (it has: {names})")
    _write(client, unit, cmd.address, list(cmd.values))  # the device echoes what it took


def set_unit_id(client: ModbusBaseSyncClient, unit: int, profile: Profile, new_unit: int) -> None:
    if profile.address_register is None:
        raise ToolError(f"profile {profile.name} does not say where the unit id is stored")
    if not 1 <= new_unit <= 247:
        raise ToolError(f"unit id {new_unit} is outside 1..247")
    _write(client, unit, profile.address_register, [new_unit])
    back = client.read_holding_registers(profile.address_register, count=1, device_id=new_unit)
    if back.isError() or back.registers[0] != new_unit:
        raise ToolError(f"the device does not answer as unit {new_unit} after the change")


def set_baud(client: ModbusBaseSyncClient, unit: int, profile: Profile, baud: int) -> int:
    """Write the baud-rate code; the device answers at the new rate afterwards, so the
    read-back happens on a client opened at that rate (:func:`verify_baud`). Returns the code."""
    if profile.baud_register is None or not profile.baud_codes:
        raise ToolError(f"profile {profile.name} does not say where the baud rate is stored")
    code = profile.baud_codes.get(baud)
    if code is None:
        known = ", ".join(str(b) for b in sorted(profile.baud_codes))
        raise ToolError(f"profile {profile.name} knows no code for {baud} baud (it knows: {known})")
    _write(client, unit, profile.baud_register, [code])
    return code


def verify_baud(
    client_at_new_rate: ModbusBaseSyncClient, unit: int, profile: Profile, code: int
) -> None:
    assert profile.baud_register is not None  # noqa: S101 - set_baud checked it
    back = client_at_new_rate.read_holding_registers(profile.baud_register, count=1, device_id=unit)
    if back.isError() or back.registers[0] != code:
        raise ToolError(f"unit {unit} does not answer at the new baud rate")


__all__ = [
    "ToolError",
    "plan_setpoint",
    "run_command",
    "set_baud",
    "set_setpoint",
    "set_unit_id",
    "verify_baud",
]
