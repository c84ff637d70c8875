"""The outbox's wake-up and batch sizing (box/sync/batching.py) and the reconnect schedule
(box/sync/backoff.py), on a fake clock and a stand-in transport; no network."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from box.config.loader import parse_config
from box.core.records import Quality, Reading, now_ms
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.database import connect
from box.store.writer import StoreWriter
from box.sync import service as service_mod
from box.sync.backoff import REFUSED_S, Backoff
from box.sync.batching import BatchPolicy, idle_wait_s
from box.sync.keyring import SyncKeyring
from box.sync.outbox import Outbox
from box.sync.service import SyncService
from sim.upstream import Consumer
from tests.conftest import run_cli, wait_for

CHANNEL = '[[channels]]\nid = "a"\nkind = "gas_lel"\nunit = "%LEL"\nsafety = false\n'


# -- the policy on a fake clock -----------------------------------------------------------------


def test_an_idle_link_sends_a_partial_batch_at_once() -> None:
    policy = BatchPolicy(max_rows=5000)  # the stock config: batch_max_age_s = 0
    assert policy.due(rows=1, oldest_ms=1_000_000, now=1000.0) == 1000.0


def test_a_hold_lasts_until_the_oldest_row_is_old_enough_or_the_batch_is_full() -> None:
    policy = BatchPolicy(max_rows=100, linger_s=2.0)
    assert policy.due(rows=3, oldest_ms=1_000_000, now=1000.5) == 1002.0
    assert policy.due(rows=100, oldest_ms=1_000_000, now=1000.5) == 1000.5  # full: now


def test_a_row_stamped_in_the_future_is_held_no_longer_than_a_fresh_one() -> None:
    policy = BatchPolicy(max_rows=100, linger_s=2.0)
    assert policy.due(rows=1, oldest_ms=9_999_999_000, now=1000.0) == 1002.0


def test_the_idle_sleep_ends_at_a_held_batch_or_the_heartbeat() -> None:
    assert idle_wait_s(100.0, None, 1.0) == 1.0
    assert idle_wait_s(100.0, 100.25, 1.0) == pytest.approx(0.25)
    assert idle_wait_s(100.0, 99.0, 1.0) == 0.0  # overdue: look again at once
    assert idle_wait_s(100.0, 500.0, 1.0) == 1.0


# -- the outbox on a fake clock ----------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[BoxHome, StoreWriter]]:
    home = tmp_path / "box"
    run_cli(home, "init")
    bh = BoxHome.under(home)
    writer = StoreWriter(
        bh.database_file,
        FileKeyProvider(bh.keys_dir).get("store"),
        parse_config("config_version = 1\n").store,
    )
    writer.start()
    yield bh, writer
    writer.stop()


def _outbox(bh: BoxHome, extra: str) -> Outbox:
    config = parse_config(f"config_version = 1\n[sync]\n{extra}\n" + CHANNEL)
    conn = connect(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), readonly=True)
    return Outbox(conn, config, "box-1", Outbox.load_cursors({}))


def _ingest(writer: StoreWriter, n: int, ts: int) -> None:
    writer.submit_readings([Reading("a", ts + i, float(i), Quality.GOOD) for i in range(n)])
    assert writer.flush()


def test_outbox_sends_one_row_at_once_and_holds_only_when_asked(
    store: tuple[BoxHome, StoreWriter],
) -> None:
    bh, writer = store
    ts = now_ms()
    _ingest(writer, 1, ts)
    stock = _outbox(bh, "")
    batch = stock.next_batch(ts / 1000)  # the fake clock: the instant the row was read
    assert batch is not None and batch.rows == 1 and stock.hold_until is None

    held = _outbox(bh, "batch_max_age_s = 5")
    assert held.next_batch(ts / 1000) is None
    assert held.hold_until == pytest.approx(ts / 1000 + 5)
    assert held.next_batch(ts / 1000 + 4.9) is None
    due = held.next_batch(ts / 1000 + 5)
    assert due is not None and due.rows == 1 and held.hold_until is None


def test_rows_committed_while_a_batch_is_unacknowledged_go_together_bounded_by_max_rows(
    store: tuple[BoxHome, StoreWriter],
) -> None:
    bh, writer = store
    ts = now_ms()
    outbox = _outbox(bh, "batch_max_rows = 5")
    _ingest(writer, 1, ts)
    first = outbox.next_batch(ts / 1000)
    assert first is not None and first.rows == 1
    for i in range(4):  # four commits while the first batch awaits its PUBACK
        _ingest(writer, 3, ts + 10 * (i + 1))
    outbox.acknowledged(first)
    sizes = []
    while (b := outbox.next_batch(ts / 1000)) is not None:
        sizes.append(b.rows)
        outbox.acknowledged(b)
    assert sizes == [5, 5, 2]  # 12 rows of four commits in three batches, none over the limit


# -- the sync thread, woken by commits (a stand-in transport holds each PUBACK) -------------------


class HeldTransport:
    """Publishes nothing: records each envelope and returns only when the test releases it."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.connected.set()
        self.topics = {"up": "t/up", "down": "t/down", "status": "t/status"}
        self.last_error = ""
        self.connects = 1
        self.on_connected: Any = None
        self.sent: list[bytes] = []
        self.release = threading.Semaphore(0)
        self.closed = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.closed = True
        for _ in range(100):
            self.release.release()

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float) -> bool:
        self.sent.append(payload)
        return self.release.acquire(timeout=30) and not self.closed


def test_the_sync_thread_sleeps_until_a_commit_and_coalesces_while_a_publish_is_in_flight(
    store: tuple[BoxHome, StoreWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No timed look at all: only the writer's commit can wake the thread for new rows.
    monkeypatch.setattr(service_mod, "HEARTBEAT_S", 3600.0)
    bh, writer = store
    config = parse_config("config_version = 1\n[sync]\nenabled = true\n" + CHANNEL)
    ring = SyncKeyring(FileKeyProvider(bh.keys_dir))
    box_id = bh.read_box_id()
    service = SyncService(
        config, box_id, bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), ring, writer
    )
    transport = HeldTransport()
    service.transport = transport  # type: ignore[assignment]
    consumer = Consumer(ring.export(box_id, "aes-256-gcm"))
    service.start()
    try:
        wait_for(service.idle.is_set, what="the sync thread asleep with nothing to send")
        ts = now_ms()
        _ingest(writer, 1, ts)
        wait_for(lambda: len(transport.sent) == 1, what="the first reading published")
        for i in range(3):  # three commits while its PUBACK is outstanding
            _ingest(writer, 2, ts + 10 * (i + 1))
        assert len(transport.sent) == 1  # nothing else went while one was in flight
        transport.release.release()
        wait_for(lambda: len(transport.sent) == 2, what="the coalesced batch")
        transport.release.release()
        recs = [r for env in transport.sent for r in consumer.handle(env)]
        assert [r["value"] for r in recs] == [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
        assert len(consumer.handle(transport.sent[1])) == 0  # (a replay is refused)
        wait_for(lambda: service.outbox.cursors.readings == 7, what="the cursor after PUBACK")
    finally:
        service.stop()


# -- the reconnect schedule on a fake clock ------------------------------------------------------


def test_the_first_retry_is_immediate_then_short_delays_then_bounded_growth() -> None:
    low = Backoff(0.1, 1.5, rng=lambda: 0.0)  # the shortest draw of the jitter
    high = Backoff(0.1, 1.5, rng=lambda: 1.0)  # the longest
    lows = [low.next_delay() for _ in range(8)]
    highs = [high.next_delay() for _ in range(8)]
    assert lows[0] == highs[0] == 0.0
    assert highs == pytest.approx([0.0, 0.1, 0.2, 0.4, 0.8, 1.5, 1.5, 1.5])
    assert lows == pytest.approx([0.0, 0.05, 0.1, 0.2, 0.4, 0.75, 0.75, 0.75])


@pytest.mark.parametrize("outage_s", [0.3, 2.0, 20.0, 300.0, 3600.0])
def test_an_attempt_comes_within_the_cap_of_the_broker_returning_however_long_it_was_away(
    outage_s: float,
) -> None:
    """Fake clock: each attempt takes 10 ms to fail while the broker is away."""
    for seed in range(20):
        backoff = Backoff(0.1, 1.5, rng=random.Random(seed).random)
        clock = 0.0
        while True:
            clock += backoff.next_delay()
            if clock >= outage_s:
                break
            clock += 0.01  # the refused attempt
        assert clock - outage_s <= 1.5


def test_only_a_connection_that_stayed_up_starts_the_schedule_afresh() -> None:
    backoff = Backoff(0.1, 1.5, rng=lambda: 1.0, stable_s=5.0)
    for _ in range(6):
        backoff.next_delay()
    backoff.connection_ended(lasted_s=0.2)  # accepted, then dropped at once: keep backing off
    assert backoff.next_delay() == pytest.approx(1.5)
    backoff.connection_ended(lasted_s=60.0)
    assert backoff.next_delay() == 0.0
    assert backoff.next_delay() == pytest.approx(0.1)


def test_a_refusal_of_the_credentials_waits_longer_than_an_outage() -> None:
    backoff = Backoff(0.1, 1.5, rng=lambda: 1.0)
    backoff.next_delay()
    backoff.refused()
    assert backoff.next_delay() == pytest.approx(REFUSED_S)
    assert backoff.next_delay() == pytest.approx(0.2)  # once: the floor is not sticky
