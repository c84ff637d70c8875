"""Nooploop LinkTrack NLink binary frames (default 921600 baud).

``TagFrame0`` is a fixed 128 bytes: header ``0x55 0x01``, then id, role, position 3 x int24,
velocity 3 x int24, eight distances int24, gyro and accelerometer 3 x float32 each, 12 reserved,
angles 3 x int16, quaternion 4 x float32, 4 reserved, local and system time uint32, 1 reserved,
eop 3 x uint8, supply voltage uint16, 5 reserved, and a checksum: the 8-bit sum of all the bytes
before it. int24 is little-endian, sign-extended; position / 1000 m, voltage / 1000 V.

Node frames (``0x55 0x02..``, ``0x55 0x04`` ...) carry their total length in bytes 2-3 and
also end with the sum checksum; their payload differs per frame and is passed on unparsed
(counted). The decoder resynchronises on the header after junk or a bad checksum.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.uwb.fix import Fix

HEADER = 0x55
TAG_FRAME0 = 0x01
TAG_FRAME0_LEN = 128
NODE_FRAMES = {0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}  # variable length, length field
MAX_NODE_LEN = 1024
_TAIL = struct.Struct("<II")  # local_time, system_time (ms)


def int24(b: bytes | bytearray, i: int) -> int:
    v = b[i] | b[i + 1] << 8 | b[i + 2] << 16
    return v - (1 << 24) if v & 0x800000 else v


def checksum(frame: bytes | bytearray) -> int:
    return sum(frame[:-1]) & 0xFF


@dataclass(frozen=True)
class TagFrame0:
    id: int
    role: int
    pos: tuple[float, float, float]
    vel: tuple[float, float, float]
    dis: tuple[float, ...]
    system_time_ms: int
    eop: tuple[float, float, float]
    voltage: float

    def fix(self, prefix: str = "lt") -> Fix:
        x, y, z = self.pos
        return Fix(f"{prefix}{self.id}", x, y, z, None, None, self.voltage)


def parse_tag_frame0(frame: bytes | bytearray) -> TagFrame0:
    if len(frame) != TAG_FRAME0_LEN:
        raise ValueError(f"TagFrame0 is {TAG_FRAME0_LEN} bytes, got {len(frame)}")
    if frame[0] != HEADER or frame[1] != TAG_FRAME0:
        raise ValueError("not a TagFrame0 header")
    if checksum(frame) != frame[-1]:
        raise ValueError("TagFrame0 checksum mismatch")
    pos = tuple(int24(frame, 4 + 3 * k) / 1000 for k in range(3))
    vel = tuple(int24(frame, 13 + 3 * k) / 10000 for k in range(3))
    dis = tuple(int24(frame, 22 + 3 * k) / 1000 for k in range(8))
    # 46: gyro 12, acc 12, reserved 12, angle 6, quaternion 16, reserved 4 -> 108
    _, system_time = _TAIL.unpack_from(frame, 108)
    eop = tuple(frame[117 + k] / 100 for k in range(3))
    (mv,) = struct.unpack_from("<H", frame, 120)
    return TagFrame0(frame[2], frame[3], pos, vel, dis, system_time, eop, mv / 1000)  # type: ignore[arg-type]


def encode_tag_frame0(
    tag_id: int,
    pos: tuple[float, float, float],
    voltage: float = 3.9,
    system_time_ms: int = 0,
    role: int = 2,
) -> bytes:
    """A valid TagFrame0 (the simulator's side)."""
    f = bytearray(TAG_FRAME0_LEN)
    f[0], f[1], f[2], f[3] = HEADER, TAG_FRAME0, tag_id & 0xFF, role
    for k, v in enumerate(pos):
        f[4 + 3 * k : 7 + 3 * k] = (round(v * 1000) & 0xFFFFFF).to_bytes(3, "little")
    struct.pack_into("<II", f, 108, system_time_ms & 0xFFFFFFFF, system_time_ms & 0xFFFFFFFF)
    struct.pack_into("<H", f, 120, round(voltage * 1000))
    f[-1] = checksum(f)
    return bytes(f)


def encode_node_frame(mark: int, payload: bytes) -> bytes:
    """A node frame: header, mark, total length (uint16 LE), payload, checksum."""
    total = 4 + len(payload) + 1
    f = bytearray([HEADER, mark]) + total.to_bytes(2, "little") + payload + b"\0"
    f[-1] = checksum(f)
    return bytes(f)


@dataclass
class NLinkStats:
    tag_frames: int = 0
    node_frames: int = 0
    bad_checksum: int = 0
    junk_bytes: int = 0


class NLinkDecoder:
    """Feeds bytes, yields parsed TagFrame0s; resyncs on 0x55 after anything bad."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.stats = NLinkStats()

    def feed(self, data: bytes) -> list[TagFrame0]:
        buf = self.buf
        buf += data
        out: list[TagFrame0] = []
        while True:
            start = buf.find(HEADER)
            if start < 0:
                self.stats.junk_bytes += len(buf)
                buf.clear()
                return out
            if start:
                self.stats.junk_bytes += start
                del buf[:start]
            if len(buf) < 2:
                return out
            mark = buf[1]
            if mark == TAG_FRAME0:
                size = TAG_FRAME0_LEN
            elif mark in NODE_FRAMES:
                if len(buf) < 4:
                    return out
                size = int.from_bytes(buf[2:4], "little")
                if not 6 <= size <= MAX_NODE_LEN:
                    self._skip()
                    continue
            else:
                self._skip()
                continue
            if len(buf) < size:
                return out
            frame = bytes(buf[:size])
            if checksum(frame) != frame[-1]:
                self.stats.bad_checksum += 1
                self._skip()
                continue
            del buf[:size]
            if mark == TAG_FRAME0:
                out.append(parse_tag_frame0(frame))
                self.stats.tag_frames += 1
            else:
                self.stats.node_frames += 1

    def _skip(self) -> None:
        """Not a frame at this header byte: look for the next one."""
        self.stats.junk_bytes += 1
        del self.buf[:1]
