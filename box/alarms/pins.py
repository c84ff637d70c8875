"""GPIO pin names as the outputs and inputs accept them, and which physical pin each means, so
that a pin given twice (the buzzer on the red lamp's pin) is a config error, not a
``GPIOPinInUse`` when the config is applied."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_GPIO = 63
_NAMED = re.compile(r"^(?:(GPIO|BCM|WPI)(\d{1,2})|(BOARD|J8:|P1:)(\d{1,2})|(\d{1,2}))$", re.I)
# The 40-pin header: physical pin -> Broadcom GPIO number (the numbering plain ints use).
_BOARD_TO_BCM = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10,
    21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19,
    36: 16, 37: 26, 38: 20, 40: 21,
}  # fmt: skip


def _valid(pin: int | str) -> int | str:
    if isinstance(pin, int):
        if not 0 <= pin <= MAX_GPIO:
            raise ValueError(f"GPIO pin {pin} does not exist (0 to {MAX_GPIO})")
        return pin
    m = _NAMED.match(pin.strip())
    if not m:
        raise ValueError(
            f"{pin!r} is not a pin name: a GPIO number (17), 'GPIO17', 'BCM17' or 'BOARD11'"
        )
    if m.group(3) and int(m.group(4)) not in _BOARD_TO_BCM:
        raise ValueError(f"{pin!r}: header pin {m.group(4)} is not a GPIO (power or ground)")
    number = int(m.group(2) or m.group(5) or 0)
    if not m.group(3) and number > MAX_GPIO:
        raise ValueError(f"GPIO pin {number} does not exist (0 to {MAX_GPIO})")
    return pin


Pin = Annotated[int | str, AfterValidator(_valid)]
"""A GPIO: an int (Broadcom numbering) or a gpiozero-style name."""


def physical(pin: int | str) -> str:
    """One name per physical pin: 17, "17", "GPIO17" and "BOARD11" are all ``"BCM17"``."""
    if isinstance(pin, int):
        return f"BCM{pin}"
    m = _NAMED.match(pin.strip())
    if not m:
        return pin.upper()
    if m.group(3):
        board = int(m.group(4))
        return f"BCM{_BOARD_TO_BCM[board]}" if board in _BOARD_TO_BCM else f"BOARD{board}"
    if (m.group(1) or "").upper() == "WPI":
        return f"WPI{int(m.group(2))}"  # wiringPi numbers: compared among themselves only
    return f"BCM{int(m.group(2) or m.group(5))}"


def used_pins(outputs: Any, inputs: Any) -> Iterator[tuple[tuple[str | int, ...], int | str]]:
    """(config path, pin) of every GPIO the outputs and inputs sections claim."""
    if outputs.buzzer is not None:
        yield ("outputs", "buzzer", "pin"), outputs.buzzer.pin
    for colour in ("red", "yellow", "green"):
        lamp = getattr(outputs.tower, colour)
        if lamp is not None:
            yield ("outputs", "tower", colour, "pin"), lamp.pin
    for r, relay in enumerate(outputs.relays):
        yield ("outputs", "relays", r, "pin"), relay.pin
    if outputs.fault_relay is not None:
        yield ("outputs", "fault_relay", "pin"), outputs.fault_relay.pin
    for name in ("ack_button", "reset_button"):
        button = getattr(inputs, name)
        if button is not None:
            yield ("inputs", name, "pin"), button.pin
