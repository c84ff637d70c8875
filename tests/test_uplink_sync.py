"""The event-driven outbox and the reconnect against a real mosquitto, with the stock [sync]
settings. The sync thread's timed look is made an hour long, so anything delivered within a
test's bounded wait was delivered because a commit or a connection woke it, not a tick."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.config.loader import parse_config
from box.core.records import Quality, Reading, now_ms
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.writer import StoreWriter
from box.sync import service as service_mod
from box.sync.backoff import REFUSED_S
from box.sync.keyring import SyncKeyring
from box.sync.service import SyncService
from box.sync.transport import Transport
from sim.upstream import Consumer, MqttConsumer
from tests.broker import Broker
from tests.conftest import run_cli, wait_for

pytestmark = pytest.mark.slow


class Order:
    """What happened, in order, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[str] = []

    def note(self, what: str) -> None:
        with self.lock:
            self.seen.append(what)


class ArrivalConsumer(Consumer):
    def __init__(self, provisioning: dict, order: Order) -> None:  # type: ignore[type-arg]
        super().__init__(provisioning)
        self.order = order

    def handle(self, data: bytes) -> list[dict]:  # type: ignore[type-arg]
        recs = super().handle(data)
        for r in recs:
            if r.get("stream") == "readings":
                self.order.note(f"arrived {r['value']}")
        return recs


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def site(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StoreWriter, SyncService, ArrivalConsumer, Order]]:
    monkeypatch.setattr(service_mod, "HEARTBEAT_S", 3600.0)
    home = tmp_path / "box"
    run_cli(home, "init")
    bh = BoxHome.under(home)
    config = parse_config(
        f"config_version = 1\n[sync]\nenabled = true\nport = {broker.port}\n"
        '[[channels]]\nid = "a"\nkind = "gas_lel"\nunit = "%LEL"\nsafety = false\n'
    )
    key = FileKeyProvider(bh.keys_dir).get("store")
    writer = StoreWriter(bh.database_file, key, config.store)
    writer.start()
    order = Order()
    ring = SyncKeyring(FileKeyProvider(bh.keys_dir))
    consumer = ArrivalConsumer(ring.export(bh.read_box_id(), "aes-256-gcm"), order)
    mq = MqttConsumer(consumer, "127.0.0.1", broker.port, client_id=f"c-{id(consumer)}").start()
    service = SyncService(config, bh.read_box_id(), bh.database_file, key, ring, writer)
    service.start()
    try:
        yield writer, service, consumer, order
    finally:
        service.stop()
        mq.stop()
        writer.stop()


def delivered(consumer: Consumer) -> int:
    st = consumer.streams.get("readings")
    return st.covered if st else 0


def test_a_single_reading_reaches_the_broker_woken_by_its_commit(
    site: tuple[StoreWriter, SyncService, ArrivalConsumer, Order],
) -> None:
    writer, service, consumer, order = site
    wait_for(service.idle.is_set, what="the sync thread connected, asleep, nothing to send")
    writer.add_commit_listener(lambda: order.note("committed"))
    writer.submit_readings([Reading("a", now_ms(), 7.0, Quality.GOOD)])
    wait_for(lambda: delivered(consumer) == 1, what="the reading at the consumer")
    assert order.seen == ["committed", "arrived 7.0"]
    assert service.sent_batches == 1  # one envelope, sent once

    # Again, after the thread went back to sleep: the same wake-up, not a one-off.
    wait_for(service.idle.is_set, what="asleep again")
    writer.submit_readings([Reading("a", now_ms(), 8.0, Quality.GOOD)])
    wait_for(lambda: delivered(consumer) == 2, what="the second reading")
    assert order.seen == ["committed", "arrived 7.0", "committed", "arrived 8.0"]


def test_data_flows_again_once_the_broker_is_back(
    site: tuple[StoreWriter, SyncService, ArrivalConsumer, Order], broker: Broker
) -> None:
    writer, service, consumer, _ = site
    writer.submit_readings([Reading("a", now_ms(), 1.0, Quality.GOOD)])
    wait_for(lambda: delivered(consumer) == 1, what="delivery before the outage")
    broker.stop()
    wait_for(lambda: not service.transport.connected.is_set(), what="the drop noticed")
    writer.submit_readings([Reading("a", now_ms() + i, 2.0 + i, Quality.GOOD) for i in range(5)])
    assert writer.flush()
    wait_for(lambda: service.transport.backoff.failures >= 3, what="refused attempts")
    assert delivered(consumer) == 1
    broker.start()
    # Woken by the connection (the timed look is an hour away): the stored rows go.
    wait_for(lambda: delivered(consumer) == 6, timeout=20, what="the rows stored meanwhile")
    assert service.transport.connects == 2
    assert consumer.rejected == [] or all("replayed" in r for r in consumer.rejected)


def test_a_broker_refusing_the_credentials_is_retried_slowly(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "auth-broker", users={"box": "s3cret"})
    config = parse_config(
        f"config_version = 1\n[sync]\nenabled = true\nport = {broker.port}\n"
        'username = "box"\npassword = "guess"\n'
    )
    transport = Transport(config.sync, "box-1", lambda: {})
    transport.start()
    try:
        wait_for(lambda: "refused" in transport.last_error, what="the refusal")
        wait_for(lambda: transport.backoff.last_delay >= REFUSED_S, what="the slow retry chosen")
        assert not transport.connected.is_set()
    finally:
        transport.stop()
        broker.stop()
