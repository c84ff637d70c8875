"""The uplink under network faults, in a running box with a real mosquitto: an outage, a link
that flaps, a slow link (a loopback proxy that holds back every chunk), a broker that refuses
the box's credentials, and a broker whose certificate expired.

Each time: every committed row reaches the consumer exactly once by sequence after recovery,
the alarms and their GPIO pins do not notice, and the reason is in ``/api/status``.
"""

from __future__ import annotations

import datetime
import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from sim.upstream import Consumer, MqttConsumer
from tests.broker import Broker, make_certs
from tests.chaos.net_proxy import FaultyLink
from tests.conftest import get_json, open_reader, run_cli, sim_body, wait_for, write_config

pytestmark = pytest.mark.slow


class Rig:
    """A box (in this process) syncing through ``port``, and a consumer on the real broker."""

    def __init__(
        self,
        home: Path,
        broker: Broker,
        port: int,
        sync_extra: str = "",
        oracle: Callable[[MqttConsumer], None] | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.home = home
        body = sim_body(interval=0.02, step_at=0.2, step_back=3600)
        sync = (
            f"\n[sync]\nenabled = true\nport = {port}\nbatch_max_rows = 200\n"
            f"batch_max_age_s = 0.2\nreconnect_min_s = 0.1\nreconnect_max_s = 0.5\n"
            f"ack_timeout_s = 2\n{sync_extra}"
        )
        write_config(home, sync + body)
        self.prov = json.loads(run_cli(home, "keys", "export").output)
        self.consumer = Consumer(self.prov)
        self.seqs: dict[str, list[int]] = {"readings": [], "events": []}
        emit = self.consumer._emit

        def record(rec: dict[str, Any]) -> dict[str, Any]:
            if rec.get("stream") in self.seqs and "seq" in rec:
                self.seqs[rec["stream"]].append(rec["seq"])
            return emit(rec)

        self.consumer._emit = record  # type: ignore[method-assign]
        self.mq = MqttConsumer(
            self.consumer, "127.0.0.1", broker.port, ca_file=ca_file, client_id=f"o-{id(self)}"
        )
        if oracle is not None:
            oracle(self.mq)
        self.mq.start()
        self.box = Daemon(BoxHome.under(home))
        self.box.start()
        self.url = "http://" + self.box.config.web.listen[0]

    def status(self) -> dict[str, Any]:
        return get_json(self.url + "/api/status")

    def settled_alarms(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The scripted leak raised A1 and the annunciation settled: the picture to keep."""
        wait_for(lambda: any(v["id"] == "t1.lel:A1" for v in self.box.engine.views), what="A1")
        time.sleep(0.3)
        picture = self.alarm_picture()
        assert picture[0]["buzzer"] != "off"
        return picture

    def alarm_picture(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """What a person at the box sees: output modes (with the electrical level of each
        MockFactory pin that is steadily on or off) and the alarms' states."""
        modes = dict(self.box.outputs.modes)
        for name, st in self.box.outputs.states().items():
            if st["mode"] in ("on", "off"):
                modes[name] += f" level={st['level']}"
        return modes, sorted((v["id"], v["state"]) for v in self.box.engine.views)

    def head(self) -> dict[str, int]:
        conn = open_reader(self.home)
        try:
            r = conn.execute("SELECT coalesce(max(id), 0) FROM readings").fetchone()[0]
            e = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        finally:
            conn.close()
        return {"readings": r, "events": e}

    def assert_everything_once(self, timeout: float = 40) -> dict[str, int]:
        """Everything committed by now arrives, each sequence number exactly once."""
        self.box.writer.flush()
        head = self.head()
        for stream, last in head.items():
            wait_for(
                lambda s=stream, n=last: (
                    self.consumer.streams.get(s) and self.consumer.streams[s].covered >= n
                ),
                timeout=timeout,
                what=f"{stream} up to {last} delivered",
            )
            got = [q for q in self.seqs[stream] if q <= last]
            assert got == list(range(1, last + 1)), f"{stream}: not exactly once"
        assert self.consumer.rejected == []
        return head

    def close(self) -> None:
        self.box.stop()
        self.mq.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def link(broker: Broker) -> Iterator[FaultyLink]:
    p = FaultyLink(broker.port)
    yield p
    p.close()


@pytest.fixture
def rigs() -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for r in made:
        r.close()


def test_outage_and_flapping_lose_nothing_and_leave_alarms_alone(
    home: Path, broker: Broker, link: FaultyLink, rigs: list[Rig]
) -> None:
    rig = Rig(home, broker, link.port)
    rigs.append(rig)
    wait_for(lambda: rig.box.sync.transport.connected.is_set(), what="box connected")
    before = rig.settled_alarms()
    link.cut()  # an outage of 3 s
    wait_for(lambda: not rig.status()["sync"]["connected"], what="status says offline")
    deadline = time.monotonic() + 3
    reasons = set()
    while time.monotonic() < deadline:
        assert rig.alarm_picture() == before, "an uplink outage changed the alarms"
        reasons.add(rig.status()["sync"]["last_error"])
        time.sleep(0.1)
    assert any("broker" in r for r in reasons), reasons
    backlog = rig.status()["sync"]["backlog"]["readings"]
    assert backlog > 50, "readings kept while offline"
    for _ in range(6):  # then it flaps: up 0.7 s, down 0.5 s
        link.restore()
        time.sleep(0.7)
        link.cut()
        time.sleep(0.5)
        assert rig.alarm_picture() == before
    link.restore()
    head = rig.assert_everything_once()
    assert head["readings"] > 500
    assert rig.box.sync.transport.connects >= 2
    assert rig.status()["sync"]["connected"] and rig.status()["sync"]["last_error"] == ""


def test_slow_link_delivers_everything_once(
    home: Path, broker: Broker, link: FaultyLink, rigs: list[Rig]
) -> None:
    link.delay_s = 0.25  # every chunk held back a quarter second each way
    rig = Rig(home, broker, link.port)
    rigs.append(rig)
    wait_for(lambda: rig.box.sync.transport.connected.is_set(), timeout=20, what="connected")
    time.sleep(4)
    link.delay_s = 0.0
    head = rig.assert_everything_once()
    assert head["readings"] > 300


def test_refused_credentials_are_reported_and_nothing_is_lost(
    tmp_path: Path, home: Path, rigs: list[Rig]
) -> None:
    broker = Broker(tmp_path / "auth-broker", users={"box": "right", "oracle": "oracle"})
    try:
        pwfile = home / "broker-password"
        pwfile.write_text("wrong\n")
        rig = Rig(
            home,
            broker,
            broker.port,
            f'username = "box"\npassword_file = "{pwfile}"\n',
            oracle=lambda mq: mq.client.username_pw_set("oracle", "oracle"),
        )
        rigs.append(rig)
        wait_for(lambda: "refused" in rig.status()["sync"]["last_error"], what="refusal in status")
        error = rig.status()["sync"]["last_error"]
        assert "wrong" not in error, "the password is never shown"
        before = rig.settled_alarms()
        time.sleep(1.5)
        assert rig.alarm_picture() == before
        assert rig.status()["sync"]["backlog"]["readings"] > 50
        pwfile.write_text("right\n")  # read at each connect: fixed without a reload
        rig.assert_everything_once()
        assert rig.status()["sync"]["last_error"] == ""
    finally:
        for r in rigs:
            r.close()
        rigs.clear()
        broker.stop()


def _expired_server_cert(certs: dict[str, Path]) -> None:
    """Re-issue the server certificate from the same CA with validity that ended yesterday."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    ca_key = serialization.load_pem_private_key(certs["ca"].with_suffix(".key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(certs["ca"].read_bytes())
    key = serialization.load_pem_private_key(certs["key"].read_bytes(), None)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    certs["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_expired_broker_certificate_is_reported_then_recovers(
    tmp_path: Path, home: Path, rigs: list[Rig]
) -> None:
    certs = make_certs(tmp_path / "certs")
    good = certs["cert"].read_bytes()
    _expired_server_cert(certs)
    broker = Broker(tmp_path / "tls-broker", tls=certs)
    try:

        def lenient(mq: MqttConsumer) -> None:
            # The oracle reads through the fault: it trusts the broker without checking dates.
            mq.client.tls_insecure_set(True)
            ctx = mq.client._ssl_context  # noqa: SLF001
            assert ctx is not None
            ctx.verify_mode = ssl.CERT_NONE

        rig = Rig(
            home,
            broker,
            broker.port,
            f'tls = {{ ca_file = "{certs["ca"]}" }}\n',
            oracle=lenient,
            ca_file=certs["ca"],
        )
        rigs.append(rig)
        wait_for(lambda: "expired" in rig.status()["sync"]["last_error"], what="expiry shown")
        assert not rig.status()["sync"]["connected"]
        before = rig.settled_alarms()
        time.sleep(1.0)
        assert rig.alarm_picture() == before
        certs["cert"].write_bytes(good)  # the broker's certificate is renewed
        broker.restart()
        rig.assert_everything_once()
        assert rig.status()["sync"]["last_error"] == ""
    finally:
        for r in rigs:
            r.close()
        rigs.clear()
        broker.stop()
