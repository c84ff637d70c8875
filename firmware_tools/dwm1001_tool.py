"""Field tool: configure a DWM1001 node over its UART with the TLV API, and read it back.

Reads: firmware version (``dwm_ver_get``), node config (``dwm_cfg_get``), update rate
(``dwm_upd_rate_get``). Writes: tag or anchor mode (``dwm_cfg_tag_set`` /
``dwm_cfg_anchor_set``), update rate (``dwm_upd_rate_set``, steps of 100 ms, stationary >=
active). Every write is read back and compared; a write the module refuses raises with the
module's own error. The node must be in TLV mode (after reset it is; ``quit`` is sent first in
case a shell was left open). Flash writes take hundreds of ms and wear the module: nothing is
written when the value is already set.

The bit layout of the two configuration bytes follows the PANS API as used by public wrappers
(byte 1 bit 5: anchor mode, bit 4: initiator); check it against your firmware's guide before
relying on the other flags, which are written as zero.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.uwb import tlv


class Port(Protocol):
    def write(self, data: bytes, /) -> int | None: ...
    def read(self, size: int = 1, /) -> bytes: ...
    def reset_input_buffer(self) -> None: ...


class ToolError(ValueError):
    """A request the module refused or did not answer; the message says which."""


@dataclass(frozen=True)
class NodeInfo:
    firmware: str
    mode: str
    initiator: bool
    active_ms: int
    stationary_ms: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _read(port: Port, n: int, timeout_s: float = 2.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout_s
    while len(buf) < n:
        if time.monotonic() > deadline:
            raise ToolError(f"the node did not answer ({len(buf)} of {n} bytes)")
        buf += port.read(n - len(buf))
    return buf


def request(port: Port, frame: bytes, tlv_count: int) -> list[tuple[int, bytes]]:
    port.write(frame)
    data = tlv.read_response(lambda n: _read(port, n), tlv_count)
    try:
        return tlv.check_status(tlv.tlvs(data))
    except tlv.TlvError as exc:
        raise ToolError(f"request 0x{frame[0]:02x}: {exc}") from None


def to_tlv_mode(port: Port) -> None:
    port.write(b"quit\r")  # from TLV mode; a shell left open is left by this line
    time.sleep(0.1)
    port.reset_input_buffer()


def read_info(port: Port) -> NodeInfo:
    ver = dict(request(port, tlv.VER_GET, 3))
    fw = ver.get(tlv.T_VER_FW, b"\0\0\0\0")
    cfg = dict(request(port, tlv.CFG_GET, 1)).get(tlv.T_CFG, b"\0\0")
    rate = dict(request(port, tlv.UPD_RATE_GET, 1)).get(tlv.T_UPD_RATE, b"\0\0\0\0")
    active, stationary = struct.unpack("<HH", rate)
    return NodeInfo(
        firmware=f"{fw[3]}.{fw[2]}.{fw[1]}.{fw[0]}",
        mode="anchor" if cfg[1] & 0x20 else "tag",
        initiator=bool(cfg[1] & 0x10),
        active_ms=active * 100,
        stationary_ms=stationary * 100,
    )


def set_mode(port: Port, mode: str, initiator: bool = False) -> NodeInfo:
    if mode not in ("tag", "anchor"):
        raise ToolError(f"mode must be tag or anchor, not {mode!r}")
    before = read_info(port)
    if before.mode == mode and (mode == "tag" or before.initiator == initiator):
        return before
    frame = bytes([0x05, 2, 0, 0]) if mode == "tag" else bytes([0x07, 2, int(initiator), 0])
    request(port, frame, 0)
    after = read_info(port)
    if after.mode != mode:
        raise ToolError(f"the node still reports mode {after.mode!r} after the write")
    return after


def set_update_rate(port: Port, active_ms: int, stationary_ms: int) -> NodeInfo:
    frame = tlv.upd_rate_set(active_ms, stationary_ms)  # raises ValueError for bad values
    before = read_info(port)
    if (before.active_ms, before.stationary_ms) == (active_ms, stationary_ms):
        return before
    request(port, frame, 0)
    after = read_info(port)
    if (after.active_ms, after.stationary_ms) != (active_ms, stationary_ms):
        raise ToolError(
            f"the node reports {after.active_ms}/{after.stationary_ms} ms after the write"
        )
    return after
