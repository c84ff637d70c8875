"""The outbox: cursors over rows already in the store, never a second copy.

One cursor per stream, advanced only after the broker acknowledged the batch (at-least-once).
Events always go first. Readings: when the backlog is large, the live cursor jumps near the
head and a backfill range is sent behind it, alternating live and historical batches, so a
long backfill never starves live data. Rows evicted by retention before they were sent are
reported in the next batch as ``evicted`` (range and count) instead of silence. Resends asked
for by the platform (resend.py) alternate with live batches; aggregate buckets are always sent
whole (aggregates.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from box.core.records import Quality
from box.sync.aggregates import BucketCache, bucket_entries
from box.sync.batching import BatchPolicy
from box.sync.config import SyncedConfig
from box.sync.envelope import Stream
from box.sync.resend import Resends

QUALITY = [q.name.lower() for q in Quality]
STATE_EVENTS = "sync.cursor.events"
STATE_READINGS = "sync.cursor.readings"
STATE_RECORDS = "sync.cursor.records"
STATE_BACKFILL = "sync.backfill.readings"


@dataclass
class Batch:
    stream: Stream
    first: int
    last: int
    payload: dict[str, Any]
    historical: bool = False
    rows: int = 0
    backfill: bool = False  # which readings cursor this batch advances
    resend: bool = False  # a range sent again on request (box/sync/resend.py)
    cache: BucketCache | None = field(default=None, repr=False)  # live readings: buckets so far
    # Records: the last sent time per (type, key) once this batch is acknowledged (downsampling)
    marks: dict[tuple[str, str], int] | None = field(default=None, repr=False)

    def encode(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Cursors:
    events: int = 0
    readings: int = 0
    records: int = 0
    backfill: list[int] | None = None  # [next id to send, last id of the range]
    _flip: bool = field(default=False, repr=False)
    _resend_turn: bool = field(default=False, repr=False)


class Outbox:
    def __init__(
        self, conn: sqlite3.Connection, config: SyncedConfig, box_id: str, cursors: Cursors
    ) -> None:
        self.conn = conn
        self.box_id = box_id
        self.cursors = cursors
        # Wall time at which a partial batch held back by ``batch_max_age_s`` is due; the
        # sync thread sleeps no longer than that (None: nothing held).
        self.hold_until: float | None = None
        self.resends = Resends()
        # Per (record type, key): when the last record sent upstream was taken (downsampling);
        # in memory, so a restart may send one record more per key, never one fewer.
        self.record_marks: dict[tuple[str, str], int] = {}
        self.buckets: BucketCache | None = None  # live readings' buckets, as acknowledged
        self.configure(config)

    def configure(self, config: SyncedConfig) -> None:
        self.sync = config.sync
        self.policy = {c.id: c.upstream for c in config.channels}
        self.channels = {c.id: c for c in config.channels}
        self.batching = BatchPolicy(self.sync.batch_max_rows, self.sync.batch_max_age_s)
        self.aggregated = {c.id for c in config.channels if c.upstream == "aggregate"}
        self.buckets = None  # the interval or the channels may have changed

    @classmethod
    def load_cursors(cls, state: dict[str, str]) -> Cursors:
        backfill = state.get(STATE_BACKFILL)
        return Cursors(
            events=int(state.get(STATE_EVENTS, 0)),
            readings=int(state.get(STATE_READINGS, 0)),
            records=int(state.get(STATE_RECORDS, 0)),
            backfill=json.loads(backfill) if backfill else None,
        )

    # -- choosing the next batch ------------------------------------------------------------

    def next_batch(self, now: float) -> Batch | None:
        """Live data and requested resends, alternating while both have something to send."""
        self.hold_until = None
        c = self.cursors
        events = self._events()  # live events never wait behind anything, resends included
        if events is not None:
            c._resend_turn = True
            return events
        if self.resends and c._resend_turn:
            batch = self._resend_batch()
            if batch is not None:
                c._resend_turn = False
                return batch
        batch = self._live_batch(now)
        if batch is not None:
            c._resend_turn = True
            return batch
        return self._resend_batch() if self.resends else None

    def _live_batch(self, now: float) -> Batch | None:
        """Other records (positions, detections); then readings, alternating live and
        backfill batches."""
        batch = self._records(now)
        if batch is not None:
            return batch
        self._maybe_split()
        c = self.cursors
        order = (True, False) if c._flip else (False, True)
        for backfill in order:
            if backfill and c.backfill is None:
                continue
            batch = self._readings(now, backfill)
            if batch is not None:
                c._flip = not backfill
                return batch
        return None

    def _maybe_split(self) -> None:
        c = self.cursors
        if c.backfill is not None:
            return
        head = self.conn.execute("SELECT coalesce(max(id), 0) FROM readings").fetchone()[0]
        size = self.sync.batch_max_rows
        if head - c.readings > 4 * size:
            c.backfill = [c.readings + 1, head - size]
            c.readings = head - size

    def _events(self) -> Batch | None:
        return self._events_range(self.cursors.events, None, historical=False)

    def _events_range(self, after: int, end: int | None, historical: bool) -> Batch | None:
        """Events with ``after < seq <= end`` (no end: to the head), one batch's worth."""
        sql = (
            "SELECT seq, ts, kind, level, source, details, prev_hash, hash, hash_v FROM events "
            "WHERE seq > ?"
        )
        params: list[Any] = [after]
        if end is not None:
            sql += " AND seq <= ?"
            params.append(end)
        rows = self.conn.execute(
            sql + " ORDER BY seq LIMIT ?", (*params, self.sync.batch_max_rows)
        ).fetchall()
        if not rows:
            return None
        events = []
        for seq, ts, kind, level, source, details, prev_hash, h, hash_v in rows:
            d = json.loads(details)
            channel = d.get("channel") or (source if source in self.policy else None)
            if channel is not None and self.policy.get(channel) == "none":
                continue  # stays on site
            events.append(
                {
                    "seq": seq,
                    "ts": ts,
                    "kind": kind,
                    "level": level,
                    "source": source,
                    "details": d,
                    "prev_hash": prev_hash,
                    "hash": h,
                    "hash_v": hash_v,
                }
            )
        first, last = after + 1, rows[-1][0]
        payload = self._envelope_payload("events", first, last, historical)
        if rows[0][0] > first:  # removed by retention before this (re)send
            payload["evicted"] = {"from": first, "to": rows[0][0] - 1, "count": rows[0][0] - first}
        payload["events"] = events
        # The chain's head as of this batch (even when some events stay on site): a platform
        # that keeps it sees a box whose chain later ends earlier, or forks (tail truncation).
        payload["chain_head"] = {"seq": rows[-1][0], "hash": rows[-1][7]}
        return Batch(Stream.EVENTS, first, last, payload, historical=historical, rows=len(rows))

    def _records(self, now: float) -> Batch | None:
        """Records of every generic type in store order; batched like live readings."""
        c = self.cursors
        size = self.sync.batch_max_rows
        rows = self.conn.execute(
            "SELECT id, type, ts, key, data FROM records WHERE id > ? ORDER BY id LIMIT ?",
            (c.records, size),
        ).fetchall()
        if not rows:
            return None
        if self._hold(len(rows), rows[0][2], now):
            return None
        first, last = c.records + 1, rows[-1][0]
        payload = self._envelope_payload("records", first, last, False)
        if rows[0][0] > first:
            payload["evicted"] = {"from": first, "to": rows[0][0] - 1, "count": rows[0][0] - first}
        # Rows withheld by the type's policy leave their seqs covered and empty ("none by
        # policy", as for readings), so a consumer sees no hole where nothing was meant to go.
        marks = dict(self.record_marks)
        payload["records"] = [
            [rid, kind, ts, key, self._record_data(kind, json.loads(data))]
            for rid, kind, ts, key, data in rows
            if self._record_goes(kind, key, ts, marks)
        ]
        return Batch(
            Stream.RECORDS, first, last, payload, rows=len(payload["records"]), marks=marks
        )

    def _record_data(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """A record's fields as they go upstream: with ``thumbnail``, every ``*_b64`` image but
        the small copy is left out (a snapshot's 20-60 KB JPEG becomes a ~3 KB thumbnail)."""
        policy = self.sync.record_policy.get(kind)
        if policy is None or policy.upstream != "thumbnail":
            return data
        return {k: v for k, v in data.items() if not k.endswith("_b64") or k == "thumb_b64"}

    def _record_goes(self, kind: str, key: str, ts: int, marks: dict[tuple[str, str], int]) -> bool:
        policy = self.sync.record_policy.get(kind)
        if policy is None or policy.upstream in ("all", "thumbnail"):
            return True
        if policy.upstream == "none":
            return False
        last = marks.get((kind, key))
        if last is not None and ts - last < policy.every_s * 1000:
            return False
        marks[(kind, key)] = ts
        return True

    def _readings(self, now: float, backfill: bool) -> Batch | None:
        c = self.cursors
        if backfill:
            assert c.backfill is not None  # noqa: S101 - checked by the caller
            start, end = c.backfill[0] - 1, c.backfill[1]
        else:
            start, end = c.readings, None
        rows = self._reading_rows(start, end)
        if not rows:
            if backfill:  # the range is done (or was evicted entirely)
                return self._empty_backfill(start, end)
            return None
        if not backfill and self._hold(len(rows), rows[0][2], now):
            return None
        batch = self._readings_batch(start, rows, historical=backfill)
        batch.backfill = backfill
        return batch

    def _reading_rows(self, after: int, end: int | None) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT r.id, c.name, r.ts, r.value, r.quality FROM readings r "
            "JOIN channels c ON c.id = r.channel_id WHERE r.id > ?"
        )
        params: list[Any] = [after]
        if end is not None:
            sql += " AND r.id <= ?"
            params.append(end)
        return self.conn.execute(
            sql + " ORDER BY r.id LIMIT ?", (*params, self.sync.batch_max_rows)
        ).fetchall()

    def _readings_batch(self, after: int, rows: list[tuple[Any, ...]], historical: bool) -> Batch:
        first, last = after + 1, rows[-1][0]
        payload = self._envelope_payload("readings", first, last, historical)
        if rows[0][0] > first:
            payload["evicted"] = {"from": first, "to": rows[0][0] - 1, "count": rows[0][0] - first}
        # Live batches follow each other: carry their buckets; historical ones read the store.
        cache = self._fill_readings(
            payload, rows, first, last, None if historical else self.buckets
        )
        return Batch(
            Stream.READINGS,
            first,
            last,
            payload,
            historical=historical,
            rows=len(rows),
            cache=None if historical else cache,
        )

    def _hold(self, rows: int, oldest_ms: int, now: float) -> bool:
        """True if this partial batch waits for more rows (box/sync/batching.py)."""
        due = self.batching.due(rows, oldest_ms, now)
        if due <= now:
            return False
        self.hold_until = due if self.hold_until is None else min(self.hold_until, due)
        return True

    def _resend_batch(self) -> Batch | None:
        r = self.resends.head()
        if r is None:
            return None
        if r.stream == "events":
            batch = self._events_range(r.next - 1, r.last, historical=True)
        else:
            rows = self._reading_rows(r.next - 1, r.last)
            batch = self._readings_batch(r.next - 1, rows, True) if rows else None
        if batch is None:  # all of it was removed by retention meanwhile: say so
            batch = self._evicted_resend(r.stream, r.next, r.last)
        batch.resend = True
        return batch

    def _evicted_resend(self, stream: str, first: int, last: int) -> Batch:
        payload = self._envelope_payload(stream, first, last, True)
        payload["evicted"] = {"from": first, "to": last, "count": last - first + 1}
        if stream == "events":
            payload["events"] = []
            return Batch(Stream.EVENTS, first, last, payload, historical=True)
        payload["readings"], payload["aggregates"], payload["channels"] = [], [], {}
        return Batch(Stream.READINGS, first, last, payload, historical=True)

    def request_resend(self, stream: str, first: int, last: int) -> dict[str, Any]:
        """Queue a resend of what was sent of ``first..last``; returns what will go."""
        c = self.cursors
        if stream == "events":
            return self.resends.request(stream, first, last, c.events)
        unsent = (c.backfill[0], c.backfill[1]) if c.backfill else None
        return self.resends.request(stream, first, last, c.readings, unsent)

    def _empty_backfill(self, start: int, end: int | None) -> Batch | None:
        assert end is not None  # noqa: S101
        if start >= end:
            self.cursors.backfill = None
            return None
        payload = self._envelope_payload("readings", start + 1, end, True)
        payload["evicted"] = {"from": start + 1, "to": end, "count": end - start}
        payload["readings"], payload["aggregates"] = [], []
        return Batch(Stream.READINGS, start + 1, end, payload, historical=True, backfill=True)

    def _envelope_payload(
        self, stream: str, first: int, last: int, historical: bool
    ) -> dict[str, Any]:
        return {
            "v": 1,
            "box": self.box_id,
            "stream": stream,
            "first": first,
            "last": last,
            "historical": historical,
            "sent_ms": int(time.time() * 1000),
        }

    def _fill_readings(
        self,
        payload: dict[str, Any],
        rows: list[tuple[Any, ...]],
        first: int,
        last: int,
        cache: BucketCache | None,
    ) -> BucketCache:
        raw: list[list[Any]] = []
        used: set[str] = set()
        for rid, ch, ts, value, q in rows:
            policy = self.policy.get(ch, "raw")
            if policy == "raw":
                raw.append([rid, ch, ts, value, QUALITY[q]])
                used.add(ch)
        interval_ms = int(self.sync.aggregate_interval_s * 1000)
        aggs, kept = bucket_entries(
            self.conn, rows, first, last, interval_ms, self.aggregated, cache
        )
        used.update(a[0] for a in aggs)
        payload["readings"] = raw
        payload["aggregates"] = aggs
        payload["channels"] = {ch: self._channel_meta(ch) for ch in sorted(used)}
        return kept

    def _channel_meta(self, ch: str) -> dict[str, Any]:
        c = self.channels.get(ch)
        if c is None:
            return {}
        return {"unit": c.unit, "kind": c.kind, "codes": c.codes}

    # -- after the broker acknowledged --------------------------------------------------------

    def acknowledged(self, batch: Batch) -> dict[str, str]:
        """Advance the cursor the batch came from; returns the state entries to persist."""
        c = self.cursors
        if batch.resend:
            return self.resends.advanced(batch.payload["stream"], batch.first, batch.last)
        if batch.stream == Stream.EVENTS:
            c.events = batch.last
            return {STATE_EVENTS: str(c.events)}
        if batch.stream == Stream.RECORDS:
            c.records = batch.last
            if batch.marks is not None:
                self.record_marks = batch.marks
            return {STATE_RECORDS: str(c.records)}
        if batch.backfill:
            assert c.backfill is not None  # noqa: S101
            c.backfill[0] = batch.last + 1
            if c.backfill[0] > c.backfill[1]:
                c.backfill = None
            return {
                STATE_BACKFILL: json.dumps(c.backfill) if c.backfill else "",
                STATE_READINGS: str(c.readings),
            }
        c.readings = batch.last
        self.buckets = batch.cache
        return {
            STATE_READINGS: str(c.readings),
            STATE_BACKFILL: json.dumps(c.backfill) if c.backfill else "",
        }
