"""The outbox against a real store: resends honour first..last, go historical and interleave
with live data, the reply says what will go; aggregate buckets are always sent whole."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from box.config.loader import parse_config
from box.core.records import Event, Quality, Reading
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.database import connect
from box.store.writer import StoreWriter
from box.sync.outbox import Cursors, Outbox
from box.sync.resend import MAX_PENDING, ResendRefused
from tests.conftest import run_cli

CHANNELS = """
[[channels]]
id = "a"
kind = "gas_lel"
unit = "%LEL"
safety = false
[[channels]]
id = "agg"
kind = "temperature"
unit = "°C"
safety = false
upstream = "aggregate"
"""
T0 = 1_700_000_020_000  # 40 s into a 60 s bucket (1_699_999_980_000 .. 1_700_000_040_000)


class Store:
    def __init__(self, tmp: Path, rows: int = 100) -> None:
        home = tmp / "box"
        run_cli(home, "init")
        bh = BoxHome.under(home)
        self.key = FileKeyProvider(bh.keys_dir).get("store")
        self.path = bh.database_file
        self.config = parse_config(
            f"config_version = 1\n[sync]\nbatch_max_rows = {rows}\nbatch_max_age_s = 0.01\n"
            "aggregate_interval_s = 60\n" + CHANNELS
        )
        self.writer = StoreWriter(self.path, self.key, self.config.store)
        self.writer.start()
        self.conn = connect(self.path, self.key, readonly=True)

    def add(self, readings: list[Reading] = (), events: int = 0) -> None:
        if readings:
            assert self.writer.submit_readings(list(readings))
        for i in range(events):
            self.writer.submit_event(Event("test", "tests", T0 + i, 0, {"i": i}))
        assert self.writer.flush()

    def outbox(self, cursors: Cursors | None = None) -> Outbox:
        return Outbox(self.conn, self.config, "sb-x", cursors or Cursors())

    def close(self) -> None:
        self.conn.close()
        self.writer.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


def drain(outbox: Outbox, limit: int = 100) -> list[Any]:
    out = []
    for _ in range(limit):
        b = outbox.next_batch(time.time())
        if b is None:
            return out
        out.append(b)
        outbox.acknowledged(b)
    raise AssertionError("the outbox never ran dry")


def test_an_events_resend_sends_exactly_first_to_last_as_historical(store: Store) -> None:
    store.add(events=14)
    outbox = store.outbox()
    assert [(b.first, b.last) for b in drain(outbox)] == [(1, 14)]
    plan = outbox.request_resend("events", 1, 2)
    assert plan["resend"] == [[1, 2]] and plan["not_sent_yet"] is None
    (again,) = drain(outbox)
    assert (again.first, again.last, again.historical) == (1, 2, True)
    assert [e["seq"] for e in again.payload["events"]] == [1, 2]
    assert again.payload["historical"] is True
    assert outbox.cursors.events == 14, "the live cursor is not rewound"


def test_a_readings_resend_is_clipped_to_what_was_sent_and_says_so(store: Store) -> None:
    store.add([Reading("a", T0 + i, float(i), Quality.GOOD) for i in range(250)])
    outbox = store.outbox()
    drain(outbox)
    plan = outbox.request_resend("readings", 200, 900)
    assert plan["resend"] == [[200, 250]] and plan["not_sent_yet"] == [251, 900]
    (again,) = drain(outbox)
    assert (again.first, again.last, again.historical) == (200, 250, True)
    assert [r[0] for r in again.payload["readings"]] == list(range(200, 251))
    nothing = outbox.request_resend("readings", 300, 400)  # never sent: goes as live anyway
    assert nothing["resend"] == [] and nothing["not_sent_yet"] == [300, 400]
    assert drain(outbox) == []


def test_resend_batches_interleave_with_live_data(store: Store) -> None:
    store.add([Reading("a", T0 + i, float(i), Quality.GOOD) for i in range(300)])
    outbox = store.outbox()
    drain(outbox)
    outbox.request_resend("readings", 1, 300)  # three batches of 100
    store.add([Reading("a", T0 + 1000 + i, float(i), Quality.GOOD) for i in range(300)])
    kinds = [("resend" if b.resend else "live", b.first, b.last) for b in drain(outbox)]
    assert kinds == [
        ("resend", 1, 100),
        ("live", 301, 400),
        ("resend", 101, 200),
        ("live", 401, 500),
        ("resend", 201, 300),
        ("live", 501, 600),
    ]


def test_pending_resends_are_bounded_and_survive_a_restart(store: Store) -> None:
    store.add([Reading("a", T0 + i, float(i), Quality.GOOD) for i in range(100)])
    outbox = store.outbox()
    drain(outbox)
    for i in range(MAX_PENDING):
        outbox.request_resend("readings", i + 1, i + 1)
    with pytest.raises(ResendRefused, match="pending"):
        outbox.request_resend("readings", 1, 1)
    from box.sync.resend import STATE_RESEND, Resends

    saved = outbox.resends.state()[STATE_RESEND]
    assert len(Resends(saved).ranges) == MAX_PENDING


def agg_rows(ts: list[int], start: float = 0.0) -> list[Reading]:
    return [Reading("agg", t, start + i, Quality.GOOD) for i, t in enumerate(ts)]


def test_a_bucket_split_over_batches_is_sent_whole_each_time(store: Store) -> None:
    # 250 rows of one bucket, then rows of the next: batches of 100 cut the first bucket twice.
    store.add(agg_rows([T0 + i * 10 for i in range(250)] + [T0 + 20_000 + i for i in range(50)]))
    outbox = store.outbox()
    batches = drain(outbox)
    assert [(b.first, b.last) for b in batches] == [(1, 100), (101, 200), (201, 300)]
    first_bucket = [a for b in batches for a in b.payload["aggregates"] if a[1] == T0 - 40_000]
    assert [a[7] for a in first_bucket] == [100, 200, 250], "each entry is the whole bucket so far"
    whole = first_bucket[-1]
    assert whole[3:8] == [0.0, 249.0, sum(range(250)) / 250, 249.0, 250]
    # Keeping the largest count per (channel, from, to) gives exactly the store's buckets.
    kept: dict[tuple[str, int, int], list[Any]] = {}
    for b in batches:
        for a in b.payload["aggregates"]:
            key = (a[0], a[1], a[2])
            if key not in kept or a[7] > kept[key][7]:
                kept[key] = a
    assert sorted(a[7] for a in kept.values()) == [50, 250]


def test_late_rows_and_a_restart_still_give_whole_buckets(store: Store) -> None:
    # Timestamps out of storage order (drivers a little behind each other): rows of bucket
    # 0 keep arriving after rows of bucket 1.
    ts = []
    for i in range(150):
        ts += [T0 + 20_000 + i, T0 + i]  # bucket 1, bucket 0, interleaved
    store.add(agg_rows(ts))
    outbox = store.outbox()
    b1 = outbox.next_batch(time.time())
    outbox.acknowledged(b1)
    # A restart: a new outbox without the carried buckets reads the earlier rows back.
    restarted = store.outbox(Cursors(readings=b1.last))
    b2 = restarted.next_batch(time.time())
    b2_live = store.outbox(outbox.cursors)
    b2_live.buckets = outbox.buckets
    assert b2.payload["aggregates"] == b2_live.next_batch(time.time()).payload["aggregates"]
    counts = sorted(a[7] for a in b2.payload["aggregates"])
    assert counts == [100, 100]
    restarted.acknowledged(b2)
    b3 = restarted.next_batch(time.time())
    assert sorted(a[7] for a in b3.payload["aggregates"]) == [150, 150]
    # A resend of everything gives the same whole buckets.
    restarted.acknowledged(b3)
    restarted.request_resend("readings", 1, 300)
    again = drain(restarted)
    assert sorted(a[7] for a in again[-1].payload["aggregates"]) == [150, 150]


def _plain_store(rows: list[tuple[int, float]]) -> sqlite3.Connection:
    """The store's schema in plain in-memory SQLite: hypothesis makes many examples."""
    from sqlite_utils import Database

    from box.store.migrations import MIGRATIONS

    conn = sqlite3.connect(":memory:")
    MIGRATIONS.apply(Database(conn))
    conn.executemany("INSERT INTO channels(id, name) VALUES (?, ?)", [(1, "agg"), (2, "a")])
    conn.executemany(
        "INSERT INTO readings(channel_id, ts, value, quality) VALUES (?,?,?,?)",
        [(1 if i % 3 else 2, ts, v, 0) for i, (ts, v) in enumerate(rows)],
    )
    return conn


@settings(max_examples=60, deadline=None)
@given(
    jitter=st.lists(st.integers(-3000, 3000), min_size=1, max_size=120),
    batch=st.integers(1, 40),
    resends=st.lists(st.tuples(st.integers(1, 120), st.integers(0, 60)), max_size=3),
    restart=st.booleans(),
)
def test_whole_buckets_whatever_the_order_of_timestamps_batches_and_resends(
    jitter: list[int], batch: int, resends: list[tuple[int, int]], restart: bool
) -> None:
    """Keeping the largest count per bucket gives exactly the stored buckets."""
    rows = [(T0 + 500 * i + j, float(i)) for i, j in enumerate(jitter)]
    conn = _plain_store(rows)
    config = parse_config(
        f"config_version = 1\n[sync]\nbatch_max_rows = {batch}\nbatch_max_age_s = 0.01\n"
        "aggregate_interval_s = 2\n" + CHANNELS
    )
    outbox = Outbox(conn, config, "sb-x", Cursors())
    kept: dict[tuple[str, int, int], list[Any]] = {}
    sent = 0
    for _ in range(1000):
        b = outbox.next_batch(time.time())
        if b is None:
            break
        for a in b.payload["aggregates"]:
            key = (a[0], a[1], a[2])
            if key not in kept or a[7] > kept[key][7]:
                kept[key] = a
            elif a[7] == kept[key][7]:
                assert a == kept[key], "equal counts must be identical entries"
        outbox.acknowledged(b)
        sent += 1
        if restart and sent == 2:  # cursors survive, carried buckets do not
            outbox = Outbox(conn, config, "sb-x", outbox.cursors)
        if sent == 3:
            for first, extra in resends:
                outbox.request_resend("readings", first, first + extra)
    expected: dict[tuple[str, int, int], list[float]] = {}
    for i, (ts, v) in enumerate(rows):
        if i % 3:
            b = ts // 2000
            expected.setdefault(("agg", b * 2000, b * 2000 + 2000), []).append(v)
    assert set(kept) == set(expected)
    for key, values in expected.items():
        a = kept[key]
        assert (a[3], a[4], a[7]) == (min(values), max(values), len(values))
        assert a[5] == pytest.approx(sum(values) / len(values))
    conn.close()
