"""The DWM1001 binary TLV API over UART (PANS firmware).

Requests are ``type, length, value``. Every response starts with the status TLV
``0x40 0x01 <err>``; the position TLV is ``0x41 0x0D`` + x, y, z (int32 little-endian, mm) +
quality (uint8, %). ``dwm_loc_get`` adds the ranges: ``0x48`` (7 bytes per anchor) or ``0x49``
(20 bytes per anchor, with the anchor's position), each ``type len count`` + entries.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.uwb.fix import Fix

POS_GET = bytes([0x02, 0x00])
LOC_GET = bytes([0x0C, 0x00])
UPD_RATE_GET = bytes([0x04, 0x00])
CFG_GET = bytes([0x08, 0x00])
VER_GET = bytes([0x15, 0x00])
RESET = bytes([0x14, 0x00])

T_STATUS, T_POS, T_RANGES, T_RANGES_POS = 0x40, 0x41, 0x48, 0x49
T_UPD_RATE, T_CFG = 0x45, 0x46
T_VER_FW, T_VER_CFG, T_VER_HW = 0x50, 0x51, 0x52
ERRORS = {
    0: "ok",
    1: "unknown command or broken TLV frame",
    2: "internal error",
    3: "invalid parameter",
    4: "busy",
    5: "operation not permitted",
}
_POS = struct.Struct("<iiiB")


class TlvError(ValueError):
    """A response that is malformed, or a status other than 0 (``code`` says which)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Range:
    address: int
    distance_m: float
    quality: int
    position: tuple[float, float, float, int] | None = None  # anchor x, y, z (m), qf


@dataclass(frozen=True)
class Location:
    position: tuple[float, float, float, int] | None  # x, y, z (m), quality (%)
    ranges: list[Range] = field(default_factory=list)

    def fix(self, tag: str) -> Fix | None:
        if self.position is None:
            return None
        x, y, z, q = self.position
        return Fix(tag, x, y, z, float(q))


def upd_rate_set(active_ms: int, stationary_ms: int) -> bytes:
    """``dwm_upd_rate_set``: intervals in units of 100 ms; stationary must be >= active."""
    if active_ms % 100 or stationary_ms % 100:
        raise ValueError("update intervals are set in steps of 100 ms")
    if not 100 <= active_ms <= stationary_ms <= 6_553_500:
        raise ValueError("need 100 ms <= active <= stationary interval")
    return bytes([0x03, 0x04]) + struct.pack("<HH", active_ms // 100, stationary_ms // 100)


def tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """Split a response into (type, value) pairs; raises TlvError if a length overruns."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise TlvError(f"truncated TLV header at byte {i}")
        t, n = data[i], data[i + 1]
        if i + 2 + n > len(data):
            raise TlvError(f"TLV 0x{t:02x} says {n} bytes, {len(data) - i - 2} left")
        out.append((t, data[i + 2 : i + 2 + n]))
        i += 2 + n
    return out


def check_status(items: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    if not items or items[0][0] != T_STATUS or len(items[0][1]) != 1:
        raise TlvError("response does not start with the status TLV 0x40 0x01")
    code = items[0][1][0]
    if code:
        raise TlvError(f"module error {code}: {ERRORS.get(code, 'unknown')}", code)
    return items[1:]


def _position(value: bytes) -> tuple[float, float, float, int]:
    if len(value) != 13:
        raise TlvError(f"position TLV has {len(value)} bytes, expected 13")
    x, y, z, q = _POS.unpack(value)
    if q > 100:
        raise TlvError(f"quality factor {q} is above 100")
    return x / 1000, y / 1000, z / 1000, q


def parse_pos(data: bytes) -> tuple[float, float, float, int]:
    items = check_status(tlvs(data))
    for t, v in items:
        if t == T_POS:
            return _position(v)
    raise TlvError("dwm_pos_get response has no position TLV")


def parse_loc(data: bytes) -> Location:
    items = check_status(tlvs(data))
    position = None
    ranges: list[Range] = []
    for t, v in items:
        if t == T_POS:
            position = _position(v)
        elif t in (T_RANGES, T_RANGES_POS):
            ranges = _ranges(t, v)
    return Location(position, ranges)


def _ranges(t: int, v: bytes) -> list[Range]:
    if not v:
        raise TlvError("ranges TLV is empty")
    count, size = v[0], 7 if t == T_RANGES else 20
    if len(v) != 1 + count * size:
        raise TlvError(f"ranges TLV 0x{t:02x}: {count} anchors need {1 + count * size} bytes")
    out: list[Range] = []
    for k in range(count):
        e = v[1 + k * size : 1 + (k + 1) * size]
        addr, dist, q = struct.unpack_from("<HIB", e)
        pos = _position(e[7:20]) if size == 20 else None
        out.append(Range(addr, dist / 1000, q, pos))
    return out


def read_response(read: Callable[[int], bytes], tlv_count: int) -> bytes:
    """Read one response: the status TLV, then (if it is 0) ``tlv_count`` more TLVs, each
    framed by its own length byte. ``read(n)`` returns exactly n bytes or raises TimeoutError."""
    out = bytearray(read(3))
    if out[0] != T_STATUS or out[1] != 1:
        raise TlvError(f"expected the status TLV, got {bytes(out).hex()}")
    if out[2]:
        return bytes(out)
    for _ in range(tlv_count):
        head = read(2)
        out += head + read(head[1])
    return bytes(out)


def encode_pos(x_m: float, y_m: float, z_m: float, q: int) -> bytes:
    """A position TLV (the simulator's side)."""
    return bytes([T_POS, 13]) + _POS.pack(
        round(x_m * 1000), round(y_m * 1000), round(z_m * 1000), q
    )


def encode_loc(
    position: tuple[float, float, float, int] | None,
    ranges: list[Range] | None = None,
    err: int = 0,
) -> bytes:
    """A complete ``dwm_loc_get`` response (the simulator's side)."""
    out = bytes([T_STATUS, 1, err])
    if err:
        return out
    if position is not None:
        out += encode_pos(*position)
    rs = ranges or []
    with_pos = any(r.position is not None for r in rs)
    body = bytes([len(rs)])
    for r in rs:
        body += struct.pack("<HIB", r.address, round(r.distance_m * 1000), r.quality)
        if with_pos:
            p = r.position or (0.0, 0.0, 0.0, 0)
            body += encode_pos(*p)[2:]
    out += bytes([T_RANGES_POS if with_pos else T_RANGES, len(body)]) + body
    return out
