"""One camera's capture thread: opens the source, keeps only the newest frame, reconnects.

The thread never queues frames: a slow consumer sees the newest one and the rest are counted
as dropped, so latency stays one frame however slow detection is. A source that fails to open
or stops delivering is reopened with exponential backoff (reset by the first good frame);
``health`` says how long it has been silent, which the driver turns into a fault.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_DEVICE = re.compile(r"^(/dev/video(\d+)|v4l2:(\d+))$")


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int  # 1, 2, ... per capture thread
    ts_ms: int  # wall clock when it was read
    image: Any  # BGR uint8 (OpenCV's order)


def source_kind(url: str) -> str:
    if url.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if url.startswith(("http://", "https://")):
        return "http"
    if _DEVICE.match(url):
        return "v4l2"
    return "file"


def open_source(url: str, timeout_s: float) -> Any:
    """A ``cv2.VideoCapture`` for the URL, or raise ``OSError`` saying why it did not open."""
    import cv2

    ms = int(timeout_s * 1000)
    kind = source_kind(url)
    if kind == "v4l2":
        m = _DEVICE.match(url)
        assert m is not None  # noqa: S101 - source_kind matched it
        cap = cv2.VideoCapture(int(m.group(2) or m.group(3)), cv2.CAP_V4L2)
    elif kind == "file":
        cap = cv2.VideoCapture(url)
    else:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise OSError(f"cannot open {kind} source {url}")
    return cap


class Capture:
    """Start with :meth:`start`; :meth:`latest` / :meth:`wait` give the newest frame."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout_s: float = 5.0,
        backoff_start_s: float = 0.5,
        backoff_max_s: float = 30.0,
        loop_file: bool = True,
    ) -> None:
        self.name, self.url = name, url
        self.kind = source_kind(url)
        self.timeout_s = timeout_s
        self.backoff_start_s, self.backoff_max_s = backoff_start_s, backoff_max_s
        self.loop_file = loop_file
        self.frames = 0
        self.dropped = 0  # grabbed while the consumer still had the previous one: not converted
        self.reconnects = 0
        self.connected = False
        self.last_error = ""
        self.started_at = time.monotonic()
        self.last_frame_at: float | None = None
        self._latest: Frame | None = None
        self._taken = 0
        self._demand = False  # a consumer waits: convert the next grabbed frame
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Capture:
        self._stop.clear()
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def latest(self) -> Frame | None:
        with self._cond:
            return self._latest

    def wait(self, after_seq: int, timeout: float) -> Frame | None:
        """The newest frame with ``seq > after_seq``, waiting up to ``timeout`` s. A frame
        already converted is returned only if no newer one was grabbed since; otherwise the
        next grabbed frame is converted for this call (at most one camera frame of delay)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                f = self._latest
                if f is not None and f.seq > after_seq and f.seq == self.frames:
                    self._taken = f.seq
                    return f
                self._demand = True
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    def silent_for(self, now: float | None = None) -> float:
        """Seconds since the last frame (since start, if none yet)."""
        now = time.monotonic() if now is None else now
        return now - (self.last_frame_at if self.last_frame_at is not None else self.started_at)

    def health(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "connected": self.connected,
            "frames": self.frames,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "silent_s": round(self.silent_for(), 1),
            "error": self.last_error,
        }

    def _run(self) -> None:
        delay = self.backoff_start_s
        while not self._stop.is_set():
            try:
                cap = open_source(self.url, self.timeout_s)
            except OSError as exc:
                self._failed(str(exc))
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            try:
                if self._read_until_failure(cap):
                    delay = self.backoff_start_s  # it delivered: start the backoff over
            finally:
                cap.release()
                self.connected = False
            if not self._stop.is_set():
                self.reconnects += 1
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)

    def _read_until_failure(self, cap: Any) -> bool:
        """Read until the source fails or we stop; True if at least one frame came.

        Every frame is grabbed (the stream stays current and the health clock runs), but only
        converted to an image (``retrieve``: colour conversion, the costly part) when the
        consumer asks for one (``wait``): frames nobody will look at cost little."""
        import cv2

        got = False
        period = 0.0
        if self.kind == "file":  # pace a file at its own frame rate, as a camera would
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            period = 1.0 / fps if 0 < fps < 1000 else 0.04
        next_at = time.monotonic()
        while not self._stop.is_set():
            ok = cap.grab()
            if not ok and self.kind == "file" and got and self.loop_file:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok = cap.grab()
            image = None
            if ok and self._wanted():
                ok, image = cap.retrieve()
                ok = ok and image is not None
            if not ok:
                self._failed("end of stream" if self.kind == "file" else "no frame (stream ended)")
                return got
            got = True
            self._arrived(image)
            if period:
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        return got

    def _wanted(self) -> bool:
        with self._cond:
            return self._demand or self._latest is None

    def _arrived(self, image: Any) -> None:
        """A grabbed frame; ``image`` None when it was not converted (nobody wanted it)."""
        now = time.monotonic()
        with self._cond:
            self.frames += 1
            self.last_frame_at = now
            if not self.connected:
                self.connected = True
                self.last_error = ""
                log.info("camera %s: receiving frames from %s", self.name, self.url)
            if image is None:
                self.dropped += 1
                return
            self._latest = Frame(self.frames, time.time_ns() // 1_000_000, image)
            self._demand = False
            self._cond.notify_all()

    def _failed(self, why: str) -> None:
        if why != self.last_error:
            log.warning("camera %s: %s", self.name, why)
        self.last_error = why
        self.connected = False
