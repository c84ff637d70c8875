"""Why a transaction failed, in words a technician can act on.

pymodbus reports a reply whose CRC does not match, or bytes that never form a frame, exactly as
it reports silence ("No response received"). The difference matters on site: silence points at
wiring, power or the unit id; bytes that fail the CRC point at the baud rate or parity. So the
client's packet trace is watched: any byte received during a failed transaction means a reply
arrived but was garbled.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

TIMEOUT, CRC = "timeout", "crc"

CRC_HINT = "replies arrive but fail CRC: check baud rate and parity"


class RxWatch:
    """A ``trace_packet`` hook that remembers the bytes received since :meth:`begin`."""

    def __init__(self, also: Callable[[bool, bytes], bytes] | None = None) -> None:
        self.received = b""
        self.ever_received = False  # any byte at all since this watch was made
        self.also = also

    def begin(self) -> None:
        self.received = b""

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.received = data  # pymodbus passes the whole buffer received so far
            self.ever_received = self.ever_received or bool(data)
        return self.also(sending, data) if self.also else data

    def failure(self) -> str:
        """The kind of the failure just seen: CRC (bytes came) or TIMEOUT (nothing came)."""
        return CRC if self.received else TIMEOUT


def describe(kind: str, unit: int, timeout_s: float, attempts: int) -> str:
    if kind == CRC:
        return CRC_HINT
    tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
    return (
        f"no answer from unit {unit} within {timeout_s:g} s ({tries}): "
        "check wiring (A/B), power and the unit id"
    )


def port_busy(error: OSError | None) -> bool:
    """Another process holds the port (pyserial's exclusive lock, or the kernel's EBUSY)."""
    return error is not None and error.errno in (errno.EAGAIN, errno.EBUSY)
