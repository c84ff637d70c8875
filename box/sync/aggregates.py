"""Aggregates of ``upstream = "aggregate"`` channels: epoch-aligned buckets, each sent whole.

A batch covers a range of reading ids, but a bucket covers a time window, and readings of one
window can be stored across several batches (ids are ordered by storage, not by timestamp). So
a bucket is never sent as the batch's share of it: every bucket a batch touches is sent as the
whole bucket as stored up to the batch's last id (min, max, mean, last and count of all its
rows with ``id <= last``). When a later batch adds rows to a bucket, the bucket goes again,
complete, with a larger count: a consumer keeps, per (channel, from, to), the entry with the
largest count (docs/MQTT.md). Same-range resends give the same entry.

Rows counted: value not null and quality good or uncertain. ``last`` is the value of the row
with the latest timestamp (then the highest id).

Live batches follow each other, so the rows before a batch are carried in memory from the
previous one (``BucketCache``); anything not in it (after a restart, historical batches, a
bucket the cache dropped) is read back from the store with one query per window.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from box.core.records import Quality

Key = tuple[str, int]  # (channel, bucket number)
CACHE_BUCKETS = 4096  # buckets carried between live batches (beyond: read from the store)


@dataclass
class Stats:
    min: float
    max: float
    sum: float
    count: int
    last_ts: int
    last_id: int
    last: float

    def add(self, rid: int, ts: int, value: float) -> None:
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.sum += value
        self.count += 1
        if (ts, rid) > (self.last_ts, self.last_id):
            self.last_ts, self.last_id, self.last = ts, rid, value

    def merged(self, other: Stats | None) -> Stats:
        if other is None:
            return Stats(**self.__dict__)
        newer = self if (self.last_ts, self.last_id) > (other.last_ts, other.last_id) else other
        return Stats(
            min(self.min, other.min),
            max(self.max, other.max),
            self.sum + other.sum,
            self.count + other.count,
            newer.last_ts,
            newer.last_id,
            newer.last,
        )


@dataclass
class BucketCache:
    """Whole-bucket stats of every bucket touched by live batches, valid up to ``upto``."""

    upto: int = -1
    buckets: dict[Key, Stats] = field(default_factory=dict)


def counted(value: Any, quality: int) -> bool:
    return value is not None and quality < Quality.BAD


def bucket_entries(
    conn: sqlite3.Connection,
    rows: Iterable[Sequence[Any]],
    first: int,
    last: int,
    interval_ms: int,
    aggregate: set[str],
    cache: BucketCache | None,
) -> tuple[list[list[Any]], BucketCache]:
    """Entries ``[channel, from_ms, to_ms, min, max, mean, last, count]`` for every bucket that
    rows (id, channel, ts, value, quality) of ``first..last`` touch, each whole up to ``last``;
    and the cache to keep if this batch is acknowledged."""
    own: dict[Key, Stats] = {}
    for rid, ch, ts, value, q in rows:
        if ch not in aggregate or not counted(value, q):
            continue
        key = (ch, ts // interval_ms)
        s = own.get(key)
        if s is None:
            own[key] = Stats(value, value, value, 1, ts, rid, value)
        else:
            s.add(rid, ts, value)
    usable = cache is not None and cache.upto == first - 1
    before: dict[Key, Stats | None] = {}
    missing = []
    for key in own:
        if usable and cache is not None and key in cache.buckets:
            before[key] = cache.buckets[key]
        else:
            missing.append(key)
    before.update(_stored_before(conn, missing, first, interval_ms))
    whole = {key: s.merged(before.get(key)) for key, s in own.items()}
    entries = [
        [ch, b * interval_ms, (b + 1) * interval_ms, s.min, s.max, s.sum / s.count, s.last, s.count]
        for (ch, b), s in sorted(whole.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]
    kept = dict(cache.buckets) if usable and cache is not None else {}
    kept.update(whole)
    if len(kept) > CACHE_BUCKETS:  # drop the oldest windows; they come from the store if needed
        for key in sorted(kept, key=lambda k: k[1])[: len(kept) - CACHE_BUCKETS]:
            del kept[key]
    return entries, BucketCache(last, kept)


def _stored_before(
    conn: sqlite3.Connection, keys: list[Key], first: int, interval_ms: int
) -> dict[Key, Stats | None]:
    """Stats of the stored rows with id < first in each key's window (one query per window)."""
    out: dict[Key, Stats | None] = {}
    windows: dict[int, set[str]] = {}
    for ch, b in keys:
        windows.setdefault(b, set()).add(ch)
    for b, chans in windows.items():
        lo, hi = b * interval_ms, (b + 1) * interval_ms
        where = (
            "FROM readings r JOIN channels c ON c.id = r.channel_id WHERE r.ts >= ? AND r.ts < ?"
            " AND r.id < ? AND r.value IS NOT NULL AND r.quality < ?"
        )
        params = (lo, hi, first, int(Quality.BAD))
        stats = {
            ch: [mn, mx, sm, n]
            for ch, mn, mx, sm, n in conn.execute(
                f"SELECT c.name, min(r.value), max(r.value), sum(r.value), count(*) {where}"  # noqa: S608 - constant
                " GROUP BY c.name",
                params,
            )
        }
        lasts = {}
        for ch in chans.intersection(stats):
            lasts[ch] = conn.execute(
                f"SELECT r.ts, r.id, r.value {where} AND c.name = ?"  # noqa: S608 - constant
                " ORDER BY r.ts DESC, r.id DESC LIMIT 1",
                (*params, ch),
            ).fetchone()
        for ch in chans:
            if ch in stats and ch in lasts:
                mn, mx, sm, n = stats[ch]
                ts, rid, value = lasts[ch]
                out[(ch, b)] = Stats(mn, mx, sm, n, ts, rid, value)
            else:
                out[(ch, b)] = None
    return out
