"""The newest JPEG of each camera in this process, for the page's low-rate live view.

The camera driver publishes at most ``every_s`` (a JPEG encode per second per camera costs a
few ms); the web area of the same process serves it. Nothing here ever blocks capture: a
publish is one dict assignment under a lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
_latest: dict[str, tuple[int, bytes]] = {}
_last_at: dict[str, float] = {}


def due(camera: str, every_s: float = 1.0) -> bool:
    return time.monotonic() - _last_at.get(camera, 0.0) >= every_s


def publish(camera: str, bgr: Any, ts_ms: int, width: int = 480, quality: int = 70) -> None:
    import cv2

    h, w = bgr.shape[:2]
    small = (
        bgr
        if w <= width
        else cv2.resize(bgr, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    )
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return
    with _lock:
        _latest[camera] = (ts_ms, bytes(data.tobytes()))
        _last_at[camera] = time.monotonic()


def latest(camera: str) -> tuple[int, bytes] | None:
    with _lock:
        return _latest.get(camera)


def forget(camera: str) -> None:
    with _lock:
        _latest.pop(camera, None)
        _last_at.pop(camera, None)
