"""The outbox against a real store: resends honour first..last, go historical and interleave
with live data, the reply says what will go; aggregate buckets are always sent whole."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
