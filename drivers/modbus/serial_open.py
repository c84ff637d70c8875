"""Open a serial port with given settings only to learn whether, and why not, it can be used.

pymodbus swallows the reason a serial port does not open (logging it at a level the driver
silences) and returns False; the operating system's words ("Inappropriate ioctl for device",
"Permission denied", "Could not exclusively lock port") are what a technician needs. This opens
the port the way pymodbus does (pyserial, exclusive) and keeps the error.
"""

from __future__ import annotations

import socket
import termios

import serial


def serial_open_error(port: str, baudrate: int, parity: str, stopbits: int) -> OSError | None:
    """The error opening ``port`` with these settings gives, or None if it opens."""
    try:
        s = serial.Serial(
            port, baudrate=baudrate, parity=parity, stopbits=stopbits, timeout=0, exclusive=True
        )
    except OSError as exc:  # SerialException is one
        return exc
    except termios.error as exc:  # a setting the tty refuses, raised past pyserial's wrapper
        return OSError(*exc.args) if len(exc.args) == 2 else OSError(str(exc))
    except ValueError as exc:  # a setting pyserial itself refuses
        return OSError(str(exc))
    s.close()
    return None


def tcp_open_error(host: str, port: int, timeout_s: float) -> OSError | None:
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return exc
    return None


def settings_text(baudrate: int, parity: str, stopbits: int) -> str:
    return f"{baudrate} baud 8{parity}{stopbits}"
