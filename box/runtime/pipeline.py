"""The core thread: records from drivers, routed by type to the stages that subscribe.

Readings go to the alarm engine, the live state and the store writer (the hot path, kept
as it was); every other registered record type (positions, detections, a plug-in's own) goes
to the stages subscribed to it: by default the store (which the outbox reads) and the live
state, and whatever rule kinds subscribe. Drivers hand over whole batches through one bounded
queue; the core thread is the only one that touches alarm state, so the engine needs no
locks. Commands from other threads (buttons, web API, CLI) travel through the same queue and
run here, in order. Nothing here waits on disk: the writer's queues never block this thread.
"""

from __future__ import annotations

import logging
import operator
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from box.alarms.engine import AlarmEngine
from box.core.record_types import RecordTypes
from box.core.records import Event, Position, Reading, Record
from box.store.positions import PositionThinner
from box.store.writer import StoreWriter

log = logging.getLogger(__name__)

_channel_of = operator.attrgetter("channel")
TICK_S = 0.1  # timer resolution of the engine (delays, offline detection, expiries)
T = TypeVar("T")
R = TypeVar("R", bound=Record)
Stage = Callable[[Sequence[Any]], object]  # called only with batches of its subscribed type


@dataclass
class _Command:
    fn: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


class Pipeline:
    def __init__(
        self,
        engine: AlarmEngine,
        writer: StoreWriter,
        max_batches: int = 4096,
        record_types: RecordTypes | None = None,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.live: dict[str, Reading] = engine.live  # last reading per channel (site rules read it)
        self.latest: dict[tuple[str, str], Record] = {}  # last other record per (type, key)
        self.dropped_readings = 0
        self.processed_readings = 0
        self.processed_records = 0
        self.refused_records = 0  # of a type nobody registered: a driver's bug, counted
        self._count_lock = threading.Lock()  # submit() runs on every driver's thread
        self._routes: dict[type, list[Stage]] = {}
        self.positions = PositionThinner(writer)
        for kind in (record_types or RecordTypes.load()).generic():
            self.subscribe(kind, self.positions if kind is Position else writer.submit_records)
            self.subscribe(kind, self._remember)
            self.subscribe(kind, engine.process_records)
        # A driver's own notable happenings (a camera falling behind its budget) are events.
        self.subscribe(Event, self._driver_events)
        self.heartbeat = time.monotonic()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_batches)
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def subscribe(self, record_type: type[R], stage: Callable[[Sequence[R]], object]) -> None:
        """Hand every batch of ``record_type`` to ``stage`` on the core thread (before start)."""
        self._routes.setdefault(record_type, []).append(stage)

    def submit(self, batch: Sequence[Record]) -> None:
        """The sink drivers call; never blocks. A full queue drops the batch and counts it."""
        if not batch:
            return
        try:
            self._queue.put_nowait((batch, time.perf_counter_ns()))
        except queue.Full:
            with self._count_lock:
                self.dropped_readings += len(batch)

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` on the pipeline thread and return its result (or raise its exception)."""
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            return fn()
        cmd = _Command(fn)
        self._queue.put(cmd, timeout=timeout)
        return cmd.future.result(timeout)

    def post(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the pipeline thread later (for gpiozero button callbacks)."""
        try:
            self._queue.put(_Command(fn), timeout=1.0)
        except queue.Full:
            log.error("pipeline queue full: a button press was not handled")

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
        next_tick = time.monotonic()
        while True:
            now = time.monotonic()
            self.heartbeat = now
            if now >= next_tick:
                next_tick = now + TICK_S
                self._guard(self.engine.tick)
            try:
                item = q.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, _Command):
                try:
                    item.future.set_result(item.fn())
                except Exception as exc:  # noqa: BLE001 - handed back to the caller
                    item.future.set_exception(exc)
                continue
            batch, entered_ns = item
            self._guard(self._process, batch, entered_ns)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            # A bad reading or rule must not stop the alarm path; log it with the traceback.
            log.exception("pipeline step %s failed", getattr(fn, "__name__", fn))

    def _process(self, batch: Sequence[Any], entered_ns: int) -> None:
        # The hot path: a batch of readings only (drivers send one type per batch; a mixed one is
        # split below). The type set is built in C, cheaper than a Python-level loop.
        if type(batch[0]) is Reading and len(set(map(type, batch))) == 1:
            self.engine.process(batch)
            self.live.update(zip(map(_channel_of, batch), batch, strict=True))
            self.processed_readings += len(batch)
            self.writer.submit_readings(batch, entered_ns)
            return
        groups: dict[type, list[Any]] = {}
        for record in batch:
            groups.setdefault(type(record), []).append(record)
        for kind, records in groups.items():
            if kind is Reading:
                self._process(records, entered_ns)
                continue
            stages = self._routes.get(kind)
            if stages is None:
                self._refuse(kind, len(records))
                continue
            for stage in stages:
                self._guard(stage, records)
            self.processed_records += len(records)

    def _driver_events(self, events: Sequence[Event]) -> None:
        for event in events:
            self.writer.submit_event(event)

    def _remember(self, records: Sequence[Record]) -> None:
        latest = self.latest
        for r in records:
            latest[(r.RECORD_TYPE, str(getattr(r, r.RECORD_KEY)))] = r

    def _refuse(self, kind: type, count: int) -> None:
        if not self.refused_records:
            log.error("records of unregistered type %s refused (a driver's bug)", kind.__name__)
        self.refused_records += count
