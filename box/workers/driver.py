"""The ``process`` driver: runs a worker function in a child and supervises it.

Everything that can go wrong in the child (an exception, ``os._exit``, a signal, silence, too
much memory) ends the child and raises :class:`WorkerFailed` from :meth:`ProcessDriver.run`,
so the ordinary :class:`~box.runtime.supervisor.DriverSupervisor` stores the fault event and
restarts it with this driver's backoff; the worker's channels go stale like those of any
silent driver.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from box.core.ports import RecordSink
from box.core.records import Quality, Reading
from box.workers import protocol
from box.workers.config import ProcessDriverConfig
from box.workers.protocol import BadMessage, RestrictedDecoder
from box.workers.records import Check, GarbageLog, reading_check
from drivers.base import Driver

if TYPE_CHECKING:
    from box.workers.frames import FrameRing
    from box.workers.process import WorkerProcess

# The child process and shared-memory parts (multiprocessing) are imported when a worker
# starts: every daemon loads this class (the driver registry), few configs run a worker.

log = logging.getLogger(__name__)

POLL_S = 0.1  # bounds how late stop, silence and memory are noticed
RSS_CHECK_S = 0.5


class WorkerFailed(RuntimeError):
    """The worker died, went silent or outgrew its memory; the supervisor restarts it."""


class ProcessDriver(Driver):
    type_key = "process"
    config_model = ProcessDriverConfig
    config: ProcessDriverConfig

    def __init__(self, config: ProcessDriverConfig, sink: RecordSink) -> None:
        super().__init__(config, sink)
        self.garbage = GarbageLog(config.name)
        # One check per record type the sink accepts; later types (positions, detections) add
        # theirs here, and the decoder then allows exactly those classes and their field types.
        self.checks: dict[type, Check] = {Reading: reading_check(config.channels)}
        self._decoder = RestrictedDecoder([*self.checks, Quality])
        self.starts = 0
        self.worker_pid: int | None = None
        self.last_exit = ""  # how the previous child ended, for diagnostics
        self._proc: WorkerProcess | None = None
        self._ring: FrameRing | None = None
        self._lock = threading.Lock()  # ring and child as seen by the capture thread

    def restart_backoff(self, start_s: float, max_s: float) -> tuple[float, float]:
        return self.config.backoff_start_s, self.config.backoff_max_s

    def start(self) -> None:
        f = self.config.frames
        if f is not None and self._ring is None:
            from box.workers.frames import FrameRing, new_spec

            spec = new_spec(self.config.name, f.slots, (f.height, f.width, f.depth), f.dtype)
            self._ring = FrameRing.create(spec)

    def run(self, stop: threading.Event) -> None:
        from box.workers.child import ChildSpec
        from box.workers.process import WorkerProcess

        cfg = self.config
        spec = ChildSpec(
            worker=cfg.worker,
            config=cfg.model_dump(mode="json"),
            heartbeat_every_s=cfg.heartbeat_timeout_s / 4,
            memory_limit_mb=cfg.memory_limit_mb,
            frames=self._ring.spec if self._ring is not None else None,
        )
        proc = WorkerProcess(spec, cfg.name)
        self.starts += 1
        self.worker_pid = proc.pid
        with self._lock:
            self._proc = proc
        try:
            self._supervise(proc, stop)
        finally:
            with self._lock:
                self._proc = None
            # A failed worker gets no grace: it is silent, dead or over its memory already.
            proc.stop(cfg.stop_grace_s if stop.is_set() else 0.0)
            self.last_exit = proc.describe_exit(0)

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            ring, self._ring = self._ring, None
        if proc is not None:
            proc.stop(0.0)
        if ring is not None:
            ring.close()

    def send_frame(self, frame: Any) -> bool:
        """From the capture side: put a frame in shared memory and tell the worker where it is.
        False if no worker runs now (the frame is dropped; capture never waits for the model)."""
        with self._lock:
            ring, proc = self._ring, self._proc
            if ring is None or proc is None:
                return False
            slot, generation = ring.write(frame)
        return proc.send((protocol.FRAME, slot, generation))

    def _supervise(self, proc: WorkerProcess, stop: threading.Event) -> None:
        cfg = self.config
        silence_limit = cfg.start_timeout_s  # until the first message: imports take long
        last_heard = time.monotonic()
        next_rss = last_heard
        error = ""  # the worker's own account, sent before it exits
        while not stop.is_set():
            if proc.conn.poll(POLL_S):
                try:
                    data = proc.conn.recv_bytes()
                except (EOFError, OSError):
                    raise WorkerFailed(self._ended(proc, error)) from None
                last_heard = time.monotonic()
                silence_limit = cfg.heartbeat_timeout_s
                error = self._handle(data) or error
            now = time.monotonic()
            if now - last_heard > silence_limit:
                proc.kill()
                raise WorkerFailed(f"worker silent for {silence_limit:g} s: killed")
            if cfg.max_rss_mb is not None and now >= next_rss:
                next_rss = now + RSS_CHECK_S
                rss = proc.rss_mb()
                if rss is not None and rss > cfg.max_rss_mb:
                    proc.kill()
                    raise WorkerFailed(
                        f"worker resident memory {rss:.0f} MB > max_rss_mb {cfg.max_rss_mb}: killed"
                    )

    def _handle(self, data: bytes) -> str | None:
        """One message; returns the worker's error summary if it reported one."""
        try:
            message = self._decoder.decode(data)
        except BadMessage as exc:
            self.garbage.add(str(exc))
            return None
        tag = message[0]
        if tag == protocol.RECORDS:
            self._deliver(message[1] if len(message) == 2 else None)
        elif tag == protocol.ERROR:
            summary = str(message[1]) if len(message) > 1 else "unknown error"
            detail = str(message[2]) if len(message) > 2 else ""
            log.error("driver %s: worker failed: %s\n%s", self.config.name, summary, detail)
            return summary
        elif tag == protocol.HELLO:
            log.info("driver %s: worker %s running", self.config.name, self.config.worker)
        return None

    def _deliver(self, items: object) -> None:
        if not isinstance(items, list | tuple):
            self.garbage.add(f"records payload is {type(items).__name__}, not a list")
            return
        good = []
        for item in items:
            check = self.checks.get(type(item))
            if check is None:
                self.garbage.add(f"{type(item).__name__} is not a record type of this driver")
                continue
            try:
                good.append(check(item))
            except (ValueError, TypeError, AttributeError) as exc:
                self.garbage.add(f"{type(item).__name__}: {exc}")
        if good:
            self.sink(good)

    def _ended(self, proc: WorkerProcess, error: str) -> str:
        how = proc.describe_exit()
        return f"worker failed: {error} ({how})" if error else f"worker ended: {how}"
