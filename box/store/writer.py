"""The single writer thread: group commits of readings, events and state into the store.

Producers never wait on disk: readings go into a bounded queue and are dropped (counted, then
recorded as a ``gap`` event) if the disk stalls; events wait briefly for room. The writer takes
whatever is queued and commits it in one transaction every ``commit_interval_ms`` or
``commit_max_rows`` rows, whichever comes first.
"""

from __future__ import annotations

import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from box.core.errors import StoreError
from box.core.levels import Level
from box.core.record_types import to_row
from box.core.records import Event, Quality, Reading, now_ms
from box.instance import DAEMON, InstanceLock, lock_file_for
from box.store import retention
from box.store.config import StoreSection
from box.store.database import open_store
from box.store.events import GENESIS_HASH, HASH_V, seal_event

log = logging.getLogger(__name__)
T = TypeVar("T")

_PLAIN_QUALITY = tuple(int(q) for q in Quality)
MULTI_ROWS = 250  # 1,000 bound parameters per statement, well under SQLite's limit
_SINGLE_INSERT = "INSERT INTO readings(channel_id, ts, value, quality) VALUES (?,?,?,?)"
_MULTI_INSERT = _SINGLE_INSERT.replace("(?,?,?,?)", ",".join(["(?,?,?,?)"] * MULTI_ROWS))


@dataclass
class _Readings:
    batch: Sequence[Reading]
    enq_ns: int


@dataclass
class _Records:
    """Records other than readings and events, as rows (type, ts, key, data JSON)."""

    rows: list[tuple[str, int, str, str]]


@dataclass
class _State:
    key: str
    value: str | None  # None deletes the key


@dataclass
class _Flush:
    done: threading.Event


@dataclass
class _Call:
    """A function run inside the writer's transaction (rare writes such as user accounts)."""

    fn: Callable[[sqlite3.Connection], Any]
    future: Future[Any] = field(default_factory=Future)


@dataclass
class WriterStats:
    committed_readings: int = 0  # by this writer (this run)
    stored_readings: int = 0  # rows in the store: counted at open, plus commits, less evictions
    committed_events: int = 0
    commits: int = 0
    dropped_readings: int = 0  # refused at the door (queue full); recorded by a gap event
    dropped_records: int = 0
    committed_records: int = 0
    lost_readings: int = 0  # accepted but never committed (the writer stopped or died first)
    lost_events: int = 0
    lost_records: int = 0
    lost_other: int = 0  # state entries and calls
    failed_commits: int = 0
    last_commit_ms: float = 0.0
    commit_error: str = ""  # why commits fail now; "" while they succeed
    failing_since: float | None = None  # monotonic time of the first failure in a row

    @property
    def uncommitted_readings(self) -> int:
        """Every reading that entered the writer and is not in the store."""
        return self.dropped_readings + self.lost_readings


HealthHook = Callable[[str], None]
"""Called on the writer thread when commits start failing (the error) and recover ("")."""


CommitHook = Callable[[list[tuple[int, int]]], None]
"""Called after each commit with (enqueue time ns, readings) per committed batch."""


class StoreWriter:
    def __init__(
        self,
        path: Path,
        key: bytes,
        settings: StoreSection,
        on_commit: CommitHook | None = None,
        on_health: HealthHook | None = None,
        owner: str = DAEMON,
        wait_s: float = 0.0,
        lock: InstanceLock | None = None,
    ) -> None:
        """Takes the store's lock first (:class:`box.instance.BoxRunning` if another process
        writes it; ``owner`` names this one in the message the next one gets). ``lock``: one
        the caller holds already (a restore), so there is no moment without it; released by
        :meth:`stop` like the writer's own."""
        self._lock = lock or InstanceLock(lock_file_for(path))
        self._lock.acquire(owner, wait_s)
        self.path = path
        self.settings = settings
        self.on_commit = on_commit
        self.on_health = on_health
        # Called (no arguments, on the writer thread) after each commit that stored readings,
        # events or records: the sync thread's wake-up. Must be quick and never block.
        self._commit_listeners: list[Callable[[], None]] = []
        self.stats = WriterStats()
        self.heartbeat = time.monotonic()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_max_batches)
        # Events and state never wait and are never dropped: if the queue is full they wait
        # here (they are few: alarms, config changes), and go into the next commit.
        self._overflow: deque[Any] = deque()
        self._stop = threading.Event()
        self._drop_lock = threading.Lock()
        # Per stream: count, first ts, last ts of what was refused since the last gap event.
        self._dropped: dict[str, list[int]] = {"readings": [0, 0, 0], "records": [0, 0, 0]}
        try:
            self._db = open_store(path, key, synchronous=settings.synchronous)
            self._conn: sqlite3.Connection = self._db.conn
            self._channel_ids: dict[str, int] = dict(
                (name, cid) for cid, name in self._conn.execute("SELECT id, name FROM channels")
            )
            self._last_seq, self._last_hash = self._chain_head()
            self.stats.stored_readings = self._count_readings()
        except BaseException:
            self._lock.release()
            raise
        self._next_maintenance = time.monotonic() + settings.maintenance_interval_s
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    # -- producer side (any thread) ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def read_state(self, *prefixes: str) -> dict[str, str]:
        """State entries whose keys start with any of ``prefixes``. Only before :meth:`start`:
        afterwards the connection belongs to the writer thread (use a reader connection)."""
        assert not self._thread.is_alive(), "read_state after start()"  # noqa: S101
        where = " OR ".join("key LIKE ?" for _ in prefixes)
        rows = self._conn.execute(
            f"SELECT key, value FROM state WHERE {where}",  # noqa: S608
            [p.replace("%", "") + "%" for p in prefixes],
        )
        return dict(rows)

    def submit_readings(self, batch: Sequence[Reading], entered_ns: int | None = None) -> bool:
        """Queue readings for commit; False (and counted) if the queue is full.

        ``entered_ns`` (``perf_counter_ns``) is when the batch entered the box, for latency.
        """
        try:
            self._queue.put_nowait(_Readings(batch, entered_ns or time.perf_counter_ns()))
            return True
        except queue.Full:
            self._refused("readings", [r.ts_ms for r in batch])
            with self._drop_lock:
                self.stats.dropped_readings += len(batch)
            return False

    def submit_records(self, batch: Sequence[Any]) -> bool:
        """Queue records of any registered type but readings and events (positions,
        detections, plug-ins' types); False (counted, then a gap event) if the queue is full."""
        rows = [to_row(r) for r in batch]
        try:
            self._queue.put_nowait(_Records(rows))
            return True
        except queue.Full:
            self._refused("records", [r[1] for r in rows])
            with self._drop_lock:
                self.stats.dropped_records += len(rows)
            return False

    def _refused(self, stream: str, stamps: list[int]) -> None:
        if not stamps:
            return
        with self._drop_lock:
            d = self._dropped[stream]
            if d[0] == 0:
                d[1] = min(stamps)
            d[0] += len(stamps)
            d[2] = max(d[2], max(stamps))

    def submit_event(self, event: Event) -> None:
        """Queue an event; never blocks (the alarm path calls this)."""
        self._put_nowait(event)

    def set_state(self, key: str, value: str | None) -> None:
        """Set (or with None, delete) a key/value state entry; never blocks."""
        self._put_nowait(_State(key, value))

    def _put_nowait(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._overflow.append(item)

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every commit that stores readings, events or records."""
        self._commit_listeners = [*self._commit_listeners, listener]

    def remove_commit_listener(self, listener: Callable[[], None]) -> None:
        self._commit_listeners = [f for f in self._commit_listeners if f != listener]

    def call(self, fn: Callable[[sqlite3.Connection], T], timeout: float = 10.0) -> T:
        """Run ``fn(connection)`` in the writer's next transaction; return its result once
        committed (or raise what it raised). Keeps a single writer for every table."""
        item = _Call(fn)
        self._queue.put(item, timeout=timeout)
        result: T = item.future.result(timeout)
        return result

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before this call is committed."""
        done = threading.Event()
        self._queue.put(_Flush(done), timeout=timeout)
        return done.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Commit everything queued, then close the store."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("store writer did not stop within %.0f s", timeout)
                return
        self._lose(self._drain())  # queued after the thread ended (or it never started)
        self._conn.close()
        self._lock.release()

    def commit_problem(self) -> str | None:
        """Why the store cannot take data now, or None: commits failing, or the thread gone."""
        st = self.stats
        if st.failing_since is not None:
            failing_s = time.monotonic() - st.failing_since
            return f"store cannot commit for {failing_s:.0f} s: {st.commit_error}"
        if (
            self._thread.ident is not None
            and not self._thread.is_alive()
            and not self._stop.is_set()
        ):
            return "store writer thread died"
        return None

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def last_event_seq(self) -> int:
        return self._last_seq

    def reconfigure(self, settings: StoreSection) -> None:
        """Take new retention and commit settings (the queue size stays until restart)."""
        self.settings = settings

    # -- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        pending: list[Any] = []
        while True:
            self.heartbeat = time.monotonic()
            stopping = self._stop.is_set()
            if stopping or self.stats.failing_since is None:
                # While commits fail, new readings stay in the bounded queue: once it is full
                # they are refused and counted (a gap event), instead of piling up in memory.
                pending.extend(self._collect(block=not stopping and not pending))
            while self._overflow:
                pending.append(self._overflow.popleft())
            if not pending:
                if stopping:
                    return
                self._maybe_maintain()
                continue
            if self._commit(pending):
                pending = []
            elif stopping:
                self._lose(pending + self._drain())
                return
            else:
                self._stop.wait(1.0)  # disk trouble: retry the same items shortly
            self._maybe_maintain()

    def _drain(self) -> list[Any]:
        items: list[Any] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        while self._overflow:
            items.append(self._overflow.popleft())
        return items

    def _lose(self, items: list[Any]) -> None:
        """Count (and log) what will never be committed, so no figure claims it was kept."""
        st = self.stats
        readings = events = other = 0
        for item in items:
            if isinstance(item, _Readings):
                readings += len(item.batch)
            elif isinstance(item, Event):
                events += 1
            elif isinstance(item, _Records):
                st.lost_records += len(item.rows)
            elif isinstance(item, _Flush):
                continue  # its waiter times out and says so
            else:
                other += 1
                if isinstance(item, _Call):
                    item.future.set_exception(StoreError("the store writer stopped"))
        st.lost_readings += readings
        st.lost_events += events
        st.lost_other += other
        if readings or events or other:
            log.error(
                "store writer stopped with %d readings, %d events and %d other items "
                "uncommitted (%s)",
                readings,
                events,
                other,
                st.commit_error or "stopped",
            )

    def _collect(self, block: bool) -> list[Any]:
        """Gather items for one commit: up to the row limit or the commit interval."""
        settings = self.settings
        items: list[Any] = []
        rows = 0
        try:
            first = self._queue.get(timeout=0.5) if block else self._queue.get_nowait()
        except queue.Empty:
            return items
        items.append(first)
        deadline = time.monotonic() + settings.commit_interval_ms / 1000
        while rows < settings.commit_max_rows and not isinstance(items[-1], _Flush):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            items.append(item)
            if isinstance(item, _Readings):
                rows += len(item.batch)
            elif isinstance(item, _Records):
                rows += len(item.rows)
        return items

    def _rows(self, batch: Sequence[Reading]) -> list[tuple[int, int, float | None, int]]:
        ids = self._channel_ids
        q = _PLAIN_QUALITY  # sqlite binds a plain int twice as fast as an IntEnum
        try:
            return [(ids[r.channel], r.ts_ms, r.value, q[r.quality]) for r in batch]
        except KeyError:  # a channel seen for the first time: register it, then the fast path
            for r in batch:
                self._channel_id(r.channel)
            return [(ids[r.channel], r.ts_ms, r.value, q[r.quality]) for r in batch]

    def _channel_id(self, name: str) -> int:
        cid = self._channel_ids.get(name)
        if cid is None:
            self._conn.execute("INSERT OR IGNORE INTO channels(name) VALUES (?)", (name,))
            cid = self._conn.execute("SELECT id FROM channels WHERE name = ?", (name,)).fetchone()[
                0
            ]
            self._channel_ids[name] = cid
        return cid

    def _commit(self, items: list[Any]) -> bool:
        started = time.perf_counter()
        gaps = self._take_dropped()
        items.extend(gaps)
        records: list[tuple[str, int, str, str]] = []
        rows: list[tuple[int, int, float | None, int]] = []
        events: list[Event] = []
        states: list[_State] = []
        flushes: list[_Flush] = []
        calls: list[tuple[_Call, Any, BaseException | None]] = []
        batches: list[tuple[int, int]] = []
        seq, prev_hash = self._last_seq, self._last_hash
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in items:
                if isinstance(item, _Readings):
                    rows.extend(self._rows(item.batch))
                    batches.append((item.enq_ns, len(item.batch)))
                elif isinstance(item, Event):
                    events.append(item)
                elif isinstance(item, _Records):
                    records.extend(item.rows)
                elif isinstance(item, _State):
                    states.append(item)
                elif isinstance(item, _Flush):
                    flushes.append(item)
                elif isinstance(item, _Call):
                    conn.execute("SAVEPOINT call")
                    try:
                        calls.append((item, item.fn(conn), None))
                        conn.execute("RELEASE call")
                    except Exception as exc:  # noqa: BLE001 - handed back to the caller
                        conn.execute("ROLLBACK TO call")
                        conn.execute("RELEASE call")
                        calls.append((item, None, exc))
            if rows:
                self._insert_readings(rows)
                self._roll_up(rows)
            if records:
                conn.executemany(
                    "INSERT INTO records(type, ts, key, data) VALUES (?,?,?,?)", records
                )
            event_rows = []
            for ev in events:
                seq += 1
                level = int(ev.level)
                details, h = seal_event(
                    prev_hash, seq, ev.ts_ms, ev.kind, level, ev.source, ev.details
                )
                event_rows.append(
                    (seq, ev.ts_ms, ev.kind, level, ev.source, details, prev_hash, h, HASH_V)
                )
                prev_hash = h
            if event_rows:
                conn.executemany(
                    "INSERT INTO events(seq, ts, kind, level, source, details, prev_hash, hash,"
                    " hash_v) VALUES (?,?,?,?,?,?,?,?,?)",
                    event_rows,
                )
            for entry in states:
                if entry.value is None:
                    conn.execute("DELETE FROM state WHERE key = ?", (entry.key,))
                    continue
                conn.execute(
                    "INSERT INTO state(key, value, updated_ts) VALUES (?,?,?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "updated_ts = excluded.updated_ts",
                    (entry.key, entry.value, now_ms()),
                )
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - disk full, I/O error: keep items, retry later
            self._commit_failed(exc)
            for gap in gaps:
                items.remove(gap)
                self._restore_dropped(gap)
            return False
        self._last_seq, self._last_hash = seq, prev_hash
        st = self.stats
        if st.failing_since is not None:
            log.warning("store commits succeed again after %d failures", st.failed_commits)
            st.failing_since, st.commit_error = None, ""
            self._report_health("")
        st.committed_readings += len(rows)
        st.stored_readings += len(rows)
        st.committed_events += len(events)
        st.committed_records += len(records)
        st.commits += 1
        st.last_commit_ms = (time.perf_counter() - started) * 1000
        for f in flushes:
            f.done.set()
        for call, result, error in calls:
            if error is not None:
                call.future.set_exception(error)
            else:
                call.future.set_result(result)
        if self.on_commit and batches:
            self.on_commit(batches)
        if rows or records or event_rows:
            self._notify_committed()
        return True

    def _notify_committed(self) -> None:
        for listener in self._commit_listeners:  # a copy-on-write list: no lock needed
            try:
                listener()
            except Exception:  # a broken listener must not stop the writer
                log.exception("store commit listener failed")

    def _commit_failed(self, exc: Exception) -> None:
        st = self.stats
        st.failed_commits += 1
        st.commit_error = f"{type(exc).__name__}: {exc}"
        conn = self._conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Re-read the chain head: if anything else appended events (it must not: the lock),
            # retrying with our own stale sequence numbers would fail forever.
            self._last_seq, self._last_hash = self._chain_head()
        except Exception as again:  # noqa: BLE001 - the disk is in trouble; retry later
            log.debug("after a failed commit: %s", again)
        log.error("store commit failed (%s); will retry", st.commit_error)
        if st.failing_since is None:
            st.failing_since = time.monotonic()
            self._report_health(st.commit_error)

    def _report_health(self, error: str) -> None:
        if self.on_health is not None:
            try:
                self.on_health(error)
            except Exception:  # a broken hook must not stop the writer
                log.exception("store health hook failed")

    def _insert_readings(self, rows: list[tuple[int, int, float | None, int]]) -> None:
        """Multi-row INSERTs of ``MULTI_ROWS`` rows: one statement step per chunk instead of one
        per row (Python's sqlite3 also releases the GIL at every step), about twice as fast."""
        full = len(rows) - len(rows) % MULTI_ROWS
        if full:
            flat = [
                list(itertools.chain.from_iterable(rows[i : i + MULTI_ROWS]))
                for i in range(0, full, MULTI_ROWS)
            ]
            self._conn.executemany(_MULTI_INSERT, flat)
        if full < len(rows):
            self._conn.executemany(_SINGLE_INSERT, rows[full:])

    def _roll_up(self, rows: list[tuple[int, int, float | None, int]]) -> None:
        """Fold good values into per-minute min/max/sum/count (one upsert per channel-minute)."""
        agg: dict[tuple[int, int], list[float]] = {}
        for cid, ts, value, quality in rows:
            if value is None or quality >= 2:  # bad or stale: not part of a trend
                continue
            a = agg.get((cid, ts // 60_000))
            if a is None:
                agg[(cid, ts // 60_000)] = [value, value, value, 1]
            else:
                if value < a[0]:
                    a[0] = value
                if value > a[1]:
                    a[1] = value
                a[2] += value
                a[3] += 1
        if agg:
            self._conn.executemany(
                "INSERT INTO rollups VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(channel_id, minute) DO UPDATE SET "
                "min = min(min, excluded.min), max = max(max, excluded.max), "
                "sum = sum + excluded.sum, count = count + excluded.count",
                [(cid, minute, *a) for (cid, minute), a in agg.items()],
            )

    def _take_dropped(self) -> list[Event]:
        gaps = []
        with self._drop_lock:
            for stream, (count, first, last) in self._dropped.items():
                if not count:
                    continue
                self._dropped[stream] = [0, 0, 0]
                details = {
                    "stream": stream,
                    "reason": "queue_full",
                    "count": count,
                    "from_ts": first,
                    "to_ts": last,
                }
                gaps.append(Event("gap", "store", now_ms(), Level.LEVEL_3, details))
        return gaps

    def _restore_dropped(self, gap: Event) -> None:
        d = gap.details
        with self._drop_lock:
            mine = self._dropped[d["stream"]]
            mine[0] += d["count"]
            mine[1] = min(mine[1] or d["from_ts"], d["from_ts"])
            mine[2] = max(mine[2], d["to_ts"])

    def _maybe_maintain(self) -> None:
        if time.monotonic() < self._next_maintenance:
            return
        self._next_maintenance = time.monotonic() + self.settings.maintenance_interval_s
        self.run_maintenance()

    def run_maintenance(self) -> None:
        """Retention by age and size; each eviction is recorded by a ``gap`` event.

        Runs on the writer thread (or before it starts), so there is only ever one writer.
        """
        try:
            gaps = retention.apply(self._conn, self.settings, now_ms(), self._last_hash_of)
        except Exception as exc:  # noqa: BLE001 - maintenance must never stop ingest
            log.error("retention failed: %s", exc)
            return
        if gaps:
            self.stats.stored_readings -= sum(g["count"] for g in gaps if g["stream"] == "readings")
            self._commit([Event("gap", "retention", now_ms(), Level.INFO, g) for g in gaps])

    def _count_readings(self) -> int:
        """Rows in ``readings`` from two index lookups, not a scan of millions of rows: ids only
        grow and retention deletes only the oldest ids, so the ids form one unbroken range."""
        # Two subqueries: SQLite answers a lone min() or max() from the index, not both at once.
        low, high = self._conn.execute(
            "SELECT (SELECT min(id) FROM readings), (SELECT max(id) FROM readings)"
        ).fetchone()
        return 0 if high is None else high - low + 1

    def _chain_head(self) -> tuple[int, str]:
        row = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def _last_hash_of(self, seq: int) -> str | None:
        row = self._conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None
