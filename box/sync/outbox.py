"""The outbox: cursors over rows already in the store, never a second copy.

One cursor per stream, advanced only after the broker acknowledged the batch (at-least-once).
Events always go first. Readings: when the backlog is large, the live cursor jumps near the
head and a backfill range is sent behind it, alternating live and historical batches, so a
long backfill never starves live data. Rows evicted by retention before they were sent are
reported in the next batch as ``evicted`` (range and count) instead of silence.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from box.core.records import Quality
from box.sync.config import SyncedConfig
from box.sync.envelope import Stream

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

    def encode(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Cursors:
    events: int = 0
    readings: int = 0
    records: int = 0
    backfill: list[int] | None = None  # [next id to send, last id of the range]
    _flip: bool = field(default=False, repr=False)


class Outbox:
    def __init__(
        self, conn: sqlite3.Connection, config: SyncedConfig, box_id: str, cursors: Cursors
    ) -> None:
        self.conn = conn
        self.box_id = box_id
        self.cursors = cursors
        self.configure(config)

    def configure(self, config: SyncedConfig) -> None:
        self.sync = config.sync
        self.policy = {c.id: c.upstream for c in config.channels}
        self.channels = {c.id: c for c in config.channels}

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
        """Events first; then other records (positions, detections); then readings,
        alternating live and backfill batches."""
        batch = self._events() or self._records(now)
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
        c = self.cursors
        rows = self.conn.execute(
            "SELECT seq, ts, kind, level, source, details, prev_hash, hash FROM events "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (c.events, self.sync.batch_max_rows),
        ).fetchall()
        if not rows:
            return None
        events = []
        for seq, ts, kind, level, source, details, prev_hash, h in rows:
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
                }
            )
        first, last = c.events + 1, rows[-1][0]
        payload = self._envelope_payload("events", first, last, False)
        payload["events"] = events
        # The chain's head as of this batch (even when some events stay on site): a platform
        # that keeps it sees a box whose chain later ends earlier, or forks (tail truncation).
        payload["chain_head"] = {"seq": rows[-1][0], "hash": rows[-1][7]}
        return Batch(Stream.EVENTS, first, last, payload, rows=len(rows))

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
        if len(rows) < size and now * 1000 - rows[0][2] < self.sync.batch_max_age_s * 1000:
            return None
        first, last = c.records + 1, rows[-1][0]
        payload = self._envelope_payload("records", first, last, False)
        if rows[0][0] > first:
            payload["evicted"] = {"from": first, "to": rows[0][0] - 1, "count": rows[0][0] - first}
        payload["records"] = [
            [rid, kind, ts, key, json.loads(data)] for rid, kind, ts, key, data in rows
        ]
        return Batch(Stream.RECORDS, first, last, payload, rows=len(rows))

    def _readings(self, now: float, backfill: bool) -> Batch | None:
        c = self.cursors
        size = self.sync.batch_max_rows
        if backfill:
            assert c.backfill is not None  # noqa: S101 - checked by the caller
            start, end = c.backfill[0] - 1, c.backfill[1]
        else:
            start, end = c.readings, None
        sql = (
            "SELECT r.id, c.name, r.ts, r.value, r.quality FROM readings r "
            "JOIN channels c ON c.id = r.channel_id WHERE r.id > ?"
        )
        params: list[Any] = [start]
        if end is not None:
            sql += " AND r.id <= ?"
            params.append(end)
        rows = self.conn.execute(sql + " ORDER BY r.id LIMIT ?", (*params, size)).fetchall()
        if not rows:
            if backfill:  # the range is done (or was evicted entirely)
                return self._empty_backfill(start, end)
            return None
        if not backfill and len(rows) < size:
            oldest_ms = rows[0][2]
            if now * 1000 - oldest_ms < self.sync.batch_max_age_s * 1000:
                return None  # wait for a fuller batch (at most batch_max_age_s)
        first, last = start + 1, rows[-1][0]
        payload = self._envelope_payload("readings", first, last, backfill)
        if rows[0][0] > first:
            payload["evicted"] = {"from": first, "to": rows[0][0] - 1, "count": rows[0][0] - first}
        self._fill_readings(payload, rows)
        return Batch(
            Stream.READINGS,
            first,
            last,
            payload,
            historical=backfill,
            rows=len(rows),
            backfill=backfill,
        )

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

    def _fill_readings(self, payload: dict[str, Any], rows: list[tuple[Any, ...]]) -> None:
        raw: list[list[Any]] = []
        aggs: dict[tuple[str, int], list[Any]] = {}
        interval_ms = int(self.sync.aggregate_interval_s * 1000)
        used: set[str] = set()
        for rid, ch, ts, value, q in rows:
            policy = self.policy.get(ch, "raw")
            if policy == "raw":
                raw.append([rid, ch, ts, value, QUALITY[q]])
                used.add(ch)
            elif policy == "aggregate" and value is not None and q < Quality.BAD:
                bucket = ts // interval_ms
                a = aggs.get((ch, bucket))
                if a is None:
                    aggs[(ch, bucket)] = [
                        ch,
                        bucket * interval_ms,
                        (bucket + 1) * interval_ms,
                        value,
                        value,
                        value,
                        value,
                        1,
                    ]
                else:
                    a[3] = min(a[3], value)
                    a[4] = max(a[4], value)
                    a[5] += value
                    a[6] = value
                    a[7] += 1
                used.add(ch)
        for a in aggs.values():
            a[5] = a[5] / a[7]
        payload["readings"] = raw
        payload["aggregates"] = list(aggs.values())
        payload["channels"] = {ch: self._channel_meta(ch) for ch in sorted(used)}

    def _channel_meta(self, ch: str) -> dict[str, Any]:
        c = self.channels.get(ch)
        if c is None:
            return {}
        return {"unit": c.unit, "kind": c.kind, "codes": c.codes}

    # -- after the broker acknowledged --------------------------------------------------------

    def acknowledged(self, batch: Batch) -> dict[str, str]:
        """Advance the cursor the batch came from; returns the state entries to persist."""
        c = self.cursors
        if batch.stream == Stream.EVENTS:
            c.events = batch.last
            return {STATE_EVENTS: str(c.events)}
        if batch.stream == Stream.RECORDS:
            c.records = batch.last
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
        return {
            STATE_READINGS: str(c.readings),
            STATE_BACKFILL: json.dumps(c.backfill) if c.backfill else "",
        }
