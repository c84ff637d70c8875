"""A frame in the shared-memory ring carries its capture time: one extra row in front whose
first 8 bytes are the wall-clock ms (little-endian), so frame-to-event latency is measured
from the camera read, not from when the worker got to it."""

from __future__ import annotations

from typing import Any


def ring_shape(width: int, height: int) -> tuple[int, int, int]:
    return (height + 1, width, 3)


def pack(bgr: Any, ts_ms: int, out: Any | None = None) -> Any:
    import numpy as np

    h, w = bgr.shape[:2]
    buf = out if out is not None else np.empty((h + 1, w, 3), np.uint8)
    buf[0].reshape(-1)[:8] = np.frombuffer(int(ts_ms).to_bytes(8, "little"), np.uint8)
    buf[1:] = bgr
    return buf


def unpack(frame: Any) -> tuple[Any, int]:
    ts = int.from_bytes(bytes(frame[0].reshape(-1)[:8]), "little")
    return frame[1:], ts
