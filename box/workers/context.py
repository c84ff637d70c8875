"""What a worker function sees in the child: its config, ``emit``, ``wait`` and frames.

The heartbeat is tied to the worker's own progress (``emit``, ``heartbeat``, ``wait``,
``next_frame``), not to a background thread: a worker stuck in a model call goes silent and
is killed by the parent, which a helper thread would hide.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from box.workers import protocol
from box.workers.frames import FrameRing

MAX_PENDING_FRAMES = 64


class WorkerContext:
    def __init__(
        self,
        conn: Connection,
        config: dict[str, Any],
        heartbeat_every_s: float,
        frames: FrameRing | None = None,
    ) -> None:
        self.config = config
        self.options: dict[str, Any] = config.get("options", {})
        self.frames_skipped = 0
        self._conn = conn
        self._ring = frames
        self._pending: deque[tuple[int, int]] = deque()
        self._stop = False
        self._every = heartbeat_every_s
        self._last_sent = 0.0

    @property
    def stopping(self) -> bool:
        """True once the parent asked the worker to finish."""
        return self._stop

    def emit(self, records: Iterable[Any]) -> None:
        """Send records (e.g. ``Reading``s on the worker's channel names) to the parent."""
        batch = list(records)
        if batch:
            self._send((protocol.RECORDS, batch))

    def heartbeat(self) -> None:
        """Say "still working" during long steps; cheap, sends at most a few per timeout."""
        if time.monotonic() - self._last_sent >= self._every:
            self._send((protocol.HEARTBEAT,))

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s, heartbeating; returns True if asked to stop."""
        deadline = time.monotonic() + timeout
        while not self._stop:
            self.heartbeat()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pump(min(left, self._every))
        return self._stop

    def next_frame(self, timeout: float) -> Any:
        """The next intact frame as a numpy array, or None (timeout, stop, or all overwritten)."""
        if self._ring is None:
            raise RuntimeError("this driver has no [frames] ring configured")
        deadline = time.monotonic() + timeout
        while not self._stop:
            while self._pending:
                frame = self._ring.read_array(*self._pending.popleft())
                if frame is not None:
                    return frame
                self.frames_skipped += 1  # overwritten before we got to it
            self.heartbeat()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pump(min(left, self._every))
        return None

    def _pump(self, timeout: float) -> None:
        """Handle messages from the parent arriving within ``timeout``."""
        if not self._conn.poll(timeout):
            return
        while True:
            msg = self._conn.recv()
            if msg[0] == protocol.STOP:
                self._stop = True
            elif msg[0] == protocol.FRAME:
                if len(self._pending) >= MAX_PENDING_FRAMES:
                    self._pending.popleft()
                    self.frames_skipped += 1
                self._pending.append((msg[1], msg[2]))
            if not self._conn.poll(0):
                return

    def _send(self, message: tuple[Any, ...]) -> None:
        self._conn.send_bytes(protocol.encode(message))
        self._last_sent = time.monotonic()
