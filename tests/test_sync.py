"""Upstream sync against a real mosquitto: delivery, outages, priority, policies, sealing, TLS."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.config.loader import parse_config
from box.core.records import Event, Quality, Reading, now_ms
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.writer import StoreWriter
from box.sync.keyring import SyncKeyring
from box.sync.service import SyncService
from sim.upstream import Consumer, MqttConsumer
from tests.broker import Broker, make_certs
from tests.conftest import run_cli, wait_for

pytestmark = pytest.mark.slow

CHANNELS = """
[[channels]]
id = "a"
kind = "gas_lel"
unit = "%LEL"
safety = false
codes = { monitoring_point_code = "MP-001", cas = "74-82-8" }
[[channels]]
id = "secret"
kind = "pressure"
unit = "MPa"
safety = false
upstream = "none"
[[channels]]
id = "agg"
kind = "temperature"
unit = "°C"
safety = false
upstream = "aggregate"
[[channels]]
id = "eo"
kind = "gas_ppm"
unit = "ppm"
safety = false
upstream = "events_only"
"""


class Site:
    """A box home with a store writer, a sync service and a consumer on one broker."""

    def __init__(
        self,
        tmp: Path,
        broker: Broker,
        extra: str = "",
        ca: Path | None = None,
        consumer_auth: tuple[str, str] | None = None,
    ) -> None:
        self.home = tmp / "box"
        run_cli(self.home, "init")
        self.bh = BoxHome.under(self.home)
        self.broker = broker
        self.keyring = SyncKeyring(FileKeyProvider(self.bh.keys_dir))
        tls = f'\ntls = {{ ca_file = "{ca}" }}' if ca else ""
        self.config = parse_config(
            f"config_version = 1\n[sync]\nenabled = true\nport = {broker.port}\n"
            "batch_max_rows = 500\n"
            f"batch_max_age_s = 0.2\nreconnect_max_s = 1.0\nack_timeout_s = 3{tls}\n"
            f'codes = {{ enterprise_code = "1101100012NR" }}\n{extra}' + CHANNELS
        )
        self.box_id = self.bh.read_box_id()
        self.writer = StoreWriter(
            self.bh.database_file, FileKeyProvider(self.bh.keys_dir).get("store"), self.config.store
        )
        self.writer.start()
        self.service: SyncService | None = None
        self.consumer = Consumer(self.keyring.export(self.box_id, "aes-256-gcm"))
        self.mqtt = MqttConsumer(
            self.consumer, "127.0.0.1", broker.port, ca_file=ca, client_id=f"c-{id(self)}"
        )
        if consumer_auth:
            self.mqtt.client.username_pw_set(*consumer_auth)
        self.mqtt.start()

    def start_sync(self) -> SyncService:
        self.service = SyncService(
            self.config,
            self.box_id,
            self.bh.database_file,
            FileKeyProvider(self.bh.keys_dir).get("store"),
            self.keyring,
            self.writer,
        )
        self.service.start()
        return self.service

    def ingest(self, n: int, channel: str = "a", start: float = 0.0) -> None:
        ts = now_ms()
        self.writer.submit_readings(
            [Reading(channel, ts + i, start + i, Quality.GOOD) for i in range(n)]
        )
        self.writer.flush()

    def head(self) -> int:
        return self.writer._conn.execute("SELECT coalesce(max(id),0) FROM readings").fetchone()[0]

    def delivered(self, stream: str = "readings") -> int:
        st = self.consumer.streams.get(stream)
        return st.covered if st else 0

    def close(self) -> None:
        if self.service:
            self.service.stop()
        self.mqtt.stop()
        self.writer.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def sites() -> Iterator[list[Site]]:
    made: list[Site] = []
    yield made
    for s in made:
        s.close()


def site(sites: list[Site], *args, **kw) -> Site:  # noqa: ANN002, ANN003
    s = Site(*args, **kw)
    sites.append(s)
    return s


def records(s: Site, stream: str) -> list[dict]:
    import json

    return [json.loads(x) for x in s.out.getvalue().splitlines()] if hasattr(s, "out") else []


def test_everything_arrives_once_in_order_with_policies_and_birth(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    s = site(sites, tmp_path, broker)
    got: list[dict] = []
    s.consumer.out = None
    orig = s.consumer._emit
    s.consumer._emit = lambda rec: (got.append(rec), orig(rec))[1]
    s.ingest(1200, "a")
    s.ingest(30, "secret")
    s.ingest(30, "agg")
    s.ingest(30, "eo")
    s.writer.submit_event(Event("alarm_raised", "eo", now_ms(), 2, {"channel": "eo"}))
    s.writer.submit_event(
        Event("alarm_raised", "a", now_ms(), 1, {"channel": "a", "alarm": "a:A1"})
    )
    s.writer.submit_event(Event("fault", "secret", now_ms(), 3, {"channel": "secret"}))
    s.writer.flush()
    s.start_sync()
    wait_for(
        lambda: s.delivered() == s.head() and s.delivered("events") == 3,
        timeout=20,
        what="all rows delivered",
    )
    seqs = [r["seq"] for r in got if r["stream"] == "readings"]
    assert seqs == list(range(1, 1201)), "raw channel: every reading once, in order"
    assert not any(r.get("channel") == "secret" for r in got), "policy none stays on site"
    aggs = [r for r in got if r["stream"] == "aggregates"]
    assert aggs and sum(a["count"] for a in aggs) == 30 and aggs[0]["channel"] == "agg"
    events = [r for r in got if r["stream"] == "events"]
    assert [e["source"] for e in events] == ["eo", "a"], "events of a 'none' channel stay on site"
    assert not any(r["stream"] == "readings" and r["channel"] == "eo" for r in got), "events_only"
    assert s.consumer.rejected == [] and s.consumer.duplicates == 0
    birth = s.consumer.status
    assert birth["state"] == "online" and birth["codes"] == {"enterprise_code": "1101100012NR"}
    assert birth["channels"][0]["codes"]["cas"] == "74-82-8"
    assert birth["key_id"] == s.keyring.current()[0]


def test_delivery_survives_an_outage_and_flapping_during_ingest(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    s = site(sites, tmp_path, broker)
    s.start_sync()
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            s.ingest(50)
            time.sleep(0.02)

    t = threading.Thread(target=produce)
    t.start()
    try:
        time.sleep(0.5)
        broker.restart(down_s=2.0)  # an outage
        for _ in range(3):  # flapping
            time.sleep(0.4)
            broker.restart(down_s=0.3)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(10)
    try:
        wait_for(lambda: s.delivered() == s.head(), timeout=30, what="backlog drained")
    except AssertionError:
        raise AssertionError(
            f"head {s.head()} delivered {s.delivered()} holes "
            f"{s.consumer.holes()} status {s.service.status()}"
        ) from None
    assert s.consumer.holes() == {}
    assert s.service.transport.connects >= 2, "reconnected after the outage"


def test_alarms_overtake_a_reading_backlog(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    s = site(sites, tmp_path, broker, extra="bandwidth_kbps = 400\n")
    s.ingest(20_000)
    s.start_sync()
    wait_for(lambda: s.delivered() > 0, what="backfill started")
    raised = time.monotonic()
    s.writer.submit_event(Event("alarm_raised", "a", now_ms(), 1, {"channel": "a"}))
    wait_for(lambda: s.delivered("events") == 1, timeout=5, what="alarm delivered")
    assert time.monotonic() - raised < 1.0, "a level-1 alarm leaves the box within 1 s"
    assert s.delivered() < s.head(), "the alarm did not wait for the backlog"
    historical = s.consumer.streams["readings"]
    assert historical.covered < 20_000


def test_tampered_replayed_and_foreign_envelopes_are_rejected(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    from box.sync.envelope import Stream

    s = site(sites, tmp_path, broker)
    s.start_sync()
    env = s.service.seal_batch(
        Stream.EVENTS,
        1,
        1,
        b'{"v":1,"box":"x","stream":"events","first":1,"last":1,"historical":false,"events":[]}',
    )
    c = Consumer(s.keyring.export(s.box_id, "aes-256-gcm"))
    assert c.handle(env) == [] and c.rejected == []
    assert c.handle(env) == [] and "replayed" in c.rejected[-1]
    bad = bytearray(env)
    bad[-5] ^= 1
    c.handle(bytes(bad))
    assert "authentication failed" in c.rejected[-1]
    other = Consumer(
        {
            **s.keyring.export(s.box_id, "aes-256-gcm"),
            "sync_keys": [{"key_id": "00000000", "key": "11" * 32, "retired_at": None}],
        }
    )
    other.handle(env)
    assert "unknown key id" in other.rejected[-1]


def test_retired_key_accepted_only_within_the_grace_period(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    from box.sync.envelope import Stream

    s = site(sites, tmp_path, broker)
    s.start_sync()
    body = b'{"v":1,"first":1,"last":1,"stream":"events","historical":false,"events":[]}'
    old_env = s.service.seal_batch(Stream.EVENTS, 1, 1, body)
    s.keyring.rotate(now=1_000_000)
    export = s.keyring.export(s.box_id, "aes-256-gcm")
    within = Consumer(export, grace_days=1, clock=lambda: 1_000_000 + 3600)
    within.handle(old_env)
    assert within.rejected == []
    after = Consumer(export, grace_days=1, clock=lambda: 1_000_000 + 2 * 86400)
    after.handle(old_env)
    assert "unknown key id" in after.rejected[-1]
    new_env = s.service.seal_batch(
        Stream.EVENTS, 2, 2, body.replace(b'"first":1,"last":1', b'"first":2,"last":2')
    )
    after.handle(new_env)
    assert len(after.rejected) == 1, "the new key works"


def test_tls_with_the_right_ca_delivers_and_a_wrong_ca_fails_clearly(
    tmp_path: Path, sites: list[Site]
) -> None:
    certs = make_certs(tmp_path / "certs")
    broker = Broker(tmp_path / "tls-broker", tls=certs)
    try:
        s = site(sites, tmp_path / "ok", broker, ca=certs["ca"])
        s.ingest(100)
        s.start_sync()
        wait_for(lambda: s.delivered() == 100, timeout=20, what="delivery over TLS")
        bad = site(sites, tmp_path / "bad", broker, ca=certs["other_ca"])
        bad.start_sync()
        wait_for(lambda: "not trusted" in bad.service.transport.last_error, what="TLS error")
        assert "check sync.tls.ca_file" in bad.service.transport.last_error
        assert not bad.service.transport.connected.is_set()
    finally:
        for x in sites:
            x.close()
        sites.clear()
        broker.stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_protocol_versions_and_credentials(
    tmp_path: Path, sites: list[Site], protocol: str
) -> None:
    broker = Broker(tmp_path / "auth-broker", users={"box": "s3cret", "platform": "p"})
    try:
        auth = f'username = "box"\npassword = "s3cret"\nprotocol = "{protocol}"\n'
        s = site(sites, tmp_path / "ok", broker, extra=auth, consumer_auth=("platform", "p"))
        s.ingest(100)
        s.start_sync()
        wait_for(lambda: s.delivered() == 100, timeout=20, what=f"delivery over MQTT {protocol}")
        pwfile = tmp_path / "mqtt-password"
        pwfile.write_text("s3cret\n")
        from_file = f'username = "box"\npassword_file = "{pwfile}"\nprotocol = "{protocol}"\n'
        f = site(sites, tmp_path / "file", broker, extra=from_file, consumer_auth=("platform", "p"))
        f.ingest(10)
        f.start_sync()
        wait_for(lambda: f.delivered() == 10, timeout=20, what="password from password_file")
        wrong = auth.replace("s3cret", "guess")
        bad = site(sites, tmp_path / "bad", broker, extra=wrong, consumer_auth=("platform", "p"))
        bad.start_sync()
        wait_for(lambda: "refused" in bad.service.transport.last_error, what="auth error")
        assert not bad.service.transport.connected.is_set()
    finally:
        for x in sites:
            x.close()
        sites.clear()
        broker.stop()


def test_rows_evicted_before_sending_are_reported_as_a_gap(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    s = site(sites, tmp_path, broker, extra="")
    old = now_ms() - 200 * 86_400_000  # older than the 90-day retention
    s.writer.submit_readings([Reading("a", old + i, float(i)) for i in range(400)])
    s.ingest(600)
    s.writer.run_maintenance()
    s.writer.flush()
    got: list[dict] = []
    orig = s.consumer._emit
    s.consumer._emit = lambda rec: (got.append(rec), orig(rec))[1]
    s.start_sync()
    wait_for(lambda: s.delivered() == 1000, timeout=20, what="delivery")
    gaps = [r for r in got if "gap" in r]
    assert gaps and gaps[0]["gap"] == {"from": 1, "to": 400, "count": 400}
    assert [r["seq"] for r in got if r.get("stream") == "readings" and "seq" in r] == list(
        range(401, 1001)
    )


def test_a_long_backlog_interleaves_live_and_historical_batches(tmp_path: Path) -> None:
    from box.store.database import connect
    from box.sync.outbox import Cursors, Outbox

    home = tmp_path / "box"
    run_cli(home, "init")
    bh = BoxHome.under(home)
    key = FileKeyProvider(bh.keys_dir).get("store")
    config = parse_config(
        "config_version = 1\n[sync]\nbatch_max_rows = 100\nbatch_max_age_s = 0.01\n" + CHANNELS
    )
    w = StoreWriter(bh.database_file, key, config.store)
    w.start()
    w.submit_readings([Reading("a", now_ms() - 10_000 + i, float(i)) for i in range(2000)])
    w.flush()
    w.stop()
    conn = connect(bh.database_file, key, readonly=True)
    outbox = Outbox(conn, config, "sb-x", Cursors())
    kinds = []
    for _ in range(6):
        b = outbox.next_batch(time.time())
        kinds.append(("historical" if b.historical else "live", b.first, b.last))
        outbox.acknowledged(b)
    conn.close()
    assert kinds[0] == ("live", 1901, 2000), "live data first, not after 1,900 old rows"
    assert kinds[1] == ("historical", 1, 100)
    assert [k[0] for k in kinds[2:]] == ["historical"] * 4, "live is caught up: backfill continues"
    assert outbox.cursors.backfill == [501, 1900]


def test_consume_cli_and_provisioning_tool(
    tmp_path: Path, broker: Broker, sites: list[Site]
) -> None:
    import json

    from firmware_tools.provision import run

    s = site(sites, tmp_path, broker)
    prov = tmp_path / "prov.json"
    with pytest.raises(SystemExit) as exited:  # a command-line tool: exits when done
        run(["--home", str(s.home), "-o", str(prov)])
    assert exited.value.code == 0
    assert json.loads(prov.read_text())["box_id"] == s.box_id
    assert oct(prov.stat().st_mode & 0o777) == "0o600"
    s.ingest(50)
    s.start_sync()
    out = tmp_path / "feed.jsonl"
    result = run_cli(
        None,
        "consume",
        "--provisioning",
        str(prov),
        "--port",
        str(broker.port),
        "-o",
        str(out),
        "--for",
        "3",
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["seq"] for r in lines if r["stream"] == "readings"] == list(range(1, 51))
    assert "records 50, duplicates 0, rejected 0, missing none, lost none" in result.output


def test_consume_cli_over_tls_with_credentials_keeps_its_state_and_session(
    tmp_path: Path, sites: list[Site]
) -> None:
    """Client id, user/password, CA and client certificate; across a restart of the consumer
    no row twice, none reported missing, and what was sent while it was away arrives."""
    import json

    certs = make_certs(tmp_path / "certs")
    broker = Broker(tmp_path / "b", tls=certs, users={"box": "s3cret", "platform": "p"})
    try:
        s = site(
            sites, tmp_path, broker, extra='username = "box"\npassword = "s3cret"\n',
            ca=certs["ca"], consumer_auth=("platform", "p"),
        )  # fmt: skip
        prov = tmp_path / "prov.json"
        prov.write_text(json.dumps(s.keyring.export(s.box_id, "aes-256-gcm")))
        out, state = tmp_path / "feed.jsonl", tmp_path / "feed.state"
        args = [
            "consume", "--provisioning", str(prov), "--port", str(broker.port), "-o", str(out),
            "--state", str(state), "--client-id", "platform-1", "--username", "platform",
            "--password", "p", "--cafile", str(certs["ca"]), "--cert", str(certs["cert"]),
            "--key", str(certs["key"]), "--json",
        ]  # fmt: skip
        run_cli(None, *args, "--for", "1")  # the broker now keeps this consumer's session
        s.ingest(40)  # while the consumer is away: queued in its persistent session
        s.start_sync()
        wait_for(lambda: s.delivered() == 40, what="box sent 40")
        first = run_cli(None, *args, "--for", "3")
        assert json.loads(first.output.strip().splitlines()[-1])["records"] == 40
        s.ingest(30)
        wait_for(lambda: s.delivered() == 70, what="box sent 70")
        second = run_cli(None, *args, "--for", "3")
        summary = json.loads(second.output.strip().splitlines()[-1])
        assert summary["missing"] == {} and summary["lost"] == {}
        seqs = [json.loads(x)["seq"] for x in out.read_text().splitlines()]
        assert sorted(seqs) == list(range(1, 71)), "every row once across the restart"
    finally:
        for x in sites:
            x.close()
        sites.clear()
        broker.stop()
