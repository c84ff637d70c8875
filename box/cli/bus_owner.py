"""Why a field tool cannot open a bus, and whether the running box is the reason.

The box's Modbus driver holds its serial port exclusively for as long as it runs, so a
``sensors`` command on the same port cannot open it. Saying only "cannot open PORT" sends the
technician looking at cables; this names the owner and the way round it (read through the box).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from box.instance import DAEMON, InstanceLock, lock_file_for
from box.paths import BoxHome
from drivers.modbus.line_faults import port_busy
from drivers.modbus.serial_open import serial_open_error, settings_text, tcp_open_error


@dataclass(frozen=True)
class ConfiguredBus:
    driver: str
    channels: list[str] = field(default_factory=list)


def _same_port(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def configured_bus(home: BoxHome, port: str) -> ConfiguredBus | None:
    """The box's Modbus driver on ``port`` per its box.toml (read leniently: a config with an
    error elsewhere must still tell us this), or None."""
    try:
        data = tomllib.loads(home.config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    for drv in data.get("drivers", []):
        if not isinstance(drv, dict) or drv.get("type") != "modbus":
            continue
        if isinstance(drv.get("port"), str) and _same_port(drv["port"], port):
            channels = [
                str(c)
                for dev in drv.get("devices", [])
                if isinstance(dev, dict) and isinstance(dev.get("channels"), dict)
                for c in dev["channels"].values()
            ]
            return ConfiguredBus(str(drv.get("name", "?")), channels)
    return None


def running_daemon_pid(home: BoxHome) -> int | None:
    holder = InstanceLock(lock_file_for(home.database_file)).holder()
    if holder is None or holder.role != DAEMON:
        return None
    return holder.pid


def explain_open_failure(home: BoxHome, bus: dict[str, Any], command: str = "read") -> str:
    """One message: what failed to open, the operating system's words, and, when the running
    box owns the port, that it does and how to ``sensors read`` (or ``verify``) through it."""
    if not bus.get("port"):
        err = tcp_open_error(bus["host"], bus["tcp_port"], bus.get("timeout") or 2.0)
        return f"cannot connect to {bus['host']}:{bus['tcp_port']}: {err or 'refused, retry'}"
    port = bus["port"]
    err = serial_open_error(port, bus["baud"], bus["parity"], int(bus["stopbits"]))
    where = f"{port} at {settings_text(bus['baud'], bus['parity'], int(bus['stopbits']))}"
    owner = configured_bus(home, port)
    pid = running_daemon_pid(home)
    if owner is not None and pid is not None and (err is None or port_busy(err)):
        shown = ", ".join(owner.channels[:6]) + (" ..." if len(owner.channels) > 6 else "")
        example = owner.channels[0] if owner.channels else "CHANNEL"
        return (
            f"{port} is in use by the running box (pid {pid}): its driver {owner.driver!r} "
            f"polls this bus. Read through the box instead: safetybox sensors {command} {example}"
            + (f" (channels on this bus: {shown})" if shown else "")
            + "; to use the field tools on this port, stop the box first"
        )
    if port_busy(err):
        return (
            f"cannot open {where}: {err}: another program holds the port "
            "(fuser -v " + port + " shows which)"
        )
    return f"cannot open {where}: {err or 'it did not open; try again'}"
