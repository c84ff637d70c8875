"""A ring of shared-memory slots for frames: the parent writes, the child reads by reference.

Frames never travel through the pipe; only ``(slot, generation)`` does. Each slot starts with
its generation (u64). The writer sets it to ``WRITING`` before copying and to the new generation
after, so a reader that sees the expected generation both before and after its copy has an
intact frame; anything else means the slot was overwritten meanwhile and the frame is skipped.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

HEADER = struct.Struct("<Q")
WRITING = 0  # generations start at 1
ALIGN = 64
_ITEMSIZE = {"uint8": 1, "uint16": 2, "float32": 4}


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """Everything the child needs to attach: picklable, no handles."""

    name: str
    slots: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def frame_bytes(self) -> int:
        n = _ITEMSIZE[self.dtype]
        for dim in self.shape:
            n *= dim
        return n

    @property
    def stride(self) -> int:
        return -(-(HEADER.size + self.frame_bytes) // ALIGN) * ALIGN


def new_spec(prefix: str, slots: int, shape: tuple[int, ...], dtype: str) -> FrameSpec:
    # A random part: a segment left by a killed box must not collide with the next one.
    return FrameSpec(f"sbx-{prefix}-{secrets.token_hex(4)}", slots, shape, dtype)


class FrameRing:
    """One side of the ring. :meth:`create` on the parent (owner), :meth:`attach` in the child."""

    def __init__(self, spec: FrameSpec, shm: shared_memory.SharedMemory, owner: bool) -> None:
        self.spec = spec
        self._shm = shm
        self._owner = owner
        self._generation = 0

    @classmethod
    def create(cls, spec: FrameSpec) -> FrameRing:
        shm = shared_memory.SharedMemory(spec.name, create=True, size=spec.slots * spec.stride)
        # A new segment is zero-filled: every slot reads as generation 0, "never written".
        return cls(spec, shm, owner=True)

    @classmethod
    def attach(cls, spec: FrameSpec) -> FrameRing:
        return cls(spec, shared_memory.SharedMemory(spec.name), owner=False)

    def write(self, frame: Any) -> tuple[int, int]:
        """Copy one frame (any C-contiguous buffer of ``frame_bytes``); returns its reference."""
        data = memoryview(frame).cast("B")
        if data.nbytes != self.spec.frame_bytes:
            raise ValueError(
                f"frame has {data.nbytes} bytes, the ring takes {self.spec.frame_bytes}"
            )
        self._generation += 1
        slot = self._generation % self.spec.slots
        base = slot * self.spec.stride
        buf = self._buf()
        HEADER.pack_into(buf, base, WRITING)
        buf[base + HEADER.size : base + HEADER.size + data.nbytes] = data
        HEADER.pack_into(buf, base, self._generation)
        return slot, self._generation

    def read(self, slot: int, generation: int) -> bytes | None:
        """A copy of the frame, or None if the slot no longer holds that generation."""
        if not (0 <= slot < self.spec.slots) or generation <= WRITING:
            return None
        base = slot * self.spec.stride
        buf = self._buf()
        if HEADER.unpack_from(buf, base)[0] != generation:
            return None
        start = base + HEADER.size
        data = bytes(buf[start : start + self.spec.frame_bytes])
        if HEADER.unpack_from(buf, base)[0] != generation:
            return None  # overwritten while we copied
        return data

    def read_array(self, slot: int, generation: int) -> Any:
        """Like :meth:`read`, as a numpy array of the ring's shape (numpy imported only here)."""
        data = self.read(slot, generation)
        if data is None:
            return None
        import numpy as np

        return np.frombuffer(data, dtype=self.spec.dtype).reshape(self.spec.shape)

    def _buf(self) -> memoryview:
        buf = self._shm.buf
        if buf is None:  # unmapped by close()
            raise ValueError("the frame ring is closed")
        return buf

    def close(self) -> None:
        """Unmap; the owner also unlinks, so nothing stays in /dev/shm."""
        self._shm.close()
        if self._owner:
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass
