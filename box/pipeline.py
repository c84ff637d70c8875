"""The core thread: readings from drivers -> rule stage -> live state and store writer.

Drivers hand over whole batches through one bounded queue; the core thread is the only one that
touches rule state, so rules need no locks. Nothing here waits on disk: the writer's queue is
non-blocking for readings.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence

from box.readings import Reading
from box.rules.limits import LimitStage
from box.store.events import Event
from box.store.writer import StoreWriter

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, rules: LimitStage, writer: StoreWriter, max_batches: int = 4096) -> None:
        self.rules = rules
        self.writer = writer
        self.live: dict[str, Reading] = {}  # last reading per channel
        self.dropped_readings = 0
        self.processed_readings = 0
        self.heartbeat = time.monotonic()
        self._queue: queue.Queue[tuple[Sequence[Reading], int] | None] = queue.Queue(
            maxsize=max_batches
        )
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: Sequence[Reading]) -> None:
        """The sink drivers call; never blocks. A full queue drops the batch and counts it."""
        if not batch:
            return
        try:
            self._queue.put_nowait((batch, time.perf_counter_ns()))
        except queue.Full:
            self.dropped_readings += len(batch)

    def stop(self, timeout: float = 10.0) -> None:
        """Process everything already queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        q = self._queue
        while True:
            self.heartbeat = time.monotonic()
            try:
                item = q.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                return
            batch, entered_ns = item
            try:
                self._process(batch, entered_ns)
            except Exception:
                # A bad reading must not stop the alarm path; log it with the traceback.
                log.exception("pipeline failed on a batch of %d readings", len(batch))

    def _process(self, batch: Sequence[Reading], entered_ns: int) -> None:
        events: list[Event] = []
        self.rules.evaluate_batch(batch, events)
        live = self.live
        for r in batch:
            live[r.channel] = r
        self.processed_readings += len(batch)
        for ev in events:
            self.writer.submit_event(ev)
        self.writer.submit_readings(batch, entered_ns)
