"""The ingest service against a real PostgreSQL: registry, verification, sequence tracking,
idempotent partitioned writes, chain checks, commands, metrics."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from box.sync.envelope import Stream, open_envelope
from ingest import contract
from ingest.brokers import BrokerAddress
from ingest.fleet import SimBox, make_fleet, scenario
from ingest.holes import due, request_resends
from ingest.metrics import Metrics, MetricsServer
from ingest.migrations import current_version, migrate
from ingest.registry import ExportError, import_export, revoke
from ingest.report import summary
from ingest.tracker import SeqState
from ingest.writer import Ingestor, Message
from tests.ingest_fixtures import dsn, pg_cluster  # noqa: F401 - fixtures

HOUR_MS = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


def register(dsn: str, *boxes: SimBox, grace_days: float = 7.0) -> None:  # noqa: F811
    with psycopg.connect(dsn) as conn:
        for b in boxes:
            import_export(conn, b.export(), grace_days)


def count(dsn: str, sql: str, *args: object) -> int:  # noqa: F811
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def readings_batch(box: SimBox) -> Message:
    """The pending readings as one envelope (a scan may also have made an event or a record)."""
    return Message(*next(e for e in box.batches(100) if "/readings" in e[0]))


def test_tracker_classifies_duplicates_holes_and_overlaps() -> None:
    s = SeqState()
    s.add(1, 10)
    s.add(21, 30)
    assert s.holes() == [(11, 20)] and s.missing() == 10
    assert s.is_duplicate(21, 25) and s.is_duplicate(3, 10)
    assert not s.is_duplicate(11, 15) and not s.is_duplicate(5, 12)
    s.add(11, 20)
    assert (s.covered, s.ahead) == (30, [])
    s.add(25, 40)  # an overlapping resend: only its tail is new
    assert s.covered == 40
    s.add(51, 60)
    # An evicted range names a loss only where nothing arrived before.
    assert s.not_received(35, 70) == [(41, 50), (61, 70)]
    assert s.not_received(52, 58) == []


def test_migrations_run_once_and_record_their_version(dsn: str) -> None:  # noqa: F811
    assert migrate(dsn) == []
    with psycopg.connect(dsn) as conn:
        assert current_version(conn) == 5
        mode = conn.execute("SELECT value FROM ingest_settings WHERE name = 'series'").fetchone()
        # No TimescaleDB here: declarative partitioning, and the absence is not an error.
        assert mode == ("partitioned",)
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'readings'").fetchone()
        assert kind == ("p",)


def test_timescale_yes_fails_clearly_where_the_extension_is_absent(dsn: str) -> None:  # noqa: F811
    with psycopg.connect(dsn) as conn:
        if conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone():
            pytest.skip(reason="timescaledb is installed here")
    fresh = dsn.replace("dbname=", "dbname=x")
    with psycopg.connect(dsn.replace(dsn.split("dbname=")[1], "postgres"), autocommit=True) as c:
        c.execute(f"CREATE DATABASE x{dsn.split('dbname=')[1]}")
    with pytest.raises(RuntimeError, match="timescaledb extension is not installed"):
        migrate(fresh, timescale="yes")
    # Each step is its own transaction: those before stay, the failed one left nothing.
    assert migrate(fresh, timescale="auto") == [3, 4, 5]


def test_key_export_is_checked_before_import(dsn: str) -> None:  # noqa: F811
    box = SimBox("sb-bad")
    bad = box.export()
    bad["sync_keys"][0]["key_id"] = "00000000"
    with psycopg.connect(dsn) as conn, pytest.raises(ExportError, match="key_id does not match"):
        import_export(conn, bad)
    two_current = box.export()
    two_current["sync_keys"].append(dict(two_current["sync_keys"][0]))
    with psycopg.connect(dsn) as conn, pytest.raises(ExportError, match="exactly one current"):
        import_export(conn, two_current)


def test_fleet_lands_once_and_a_redelivered_batch_changes_nothing(dsn: str) -> None:  # noqa: F811
    fleet = make_fleet(6, seed=3)
    register(dsn, *fleet)
    # Box 2 is away for 20 scans and its retention evicts 24 unsent readings meanwhile.
    envs = list(scenario(fleet, 40, 40, now_ms() - HOUR_MS, outages={2: (5, 25, 24)}))
    ing = Ingestor(dsn)
    try:
        msgs = [Message(t, p) for t, p in envs]
        for i in range(0, len(msgs), 7):
            ing.handle(msgs[i : i + 7])
        with psycopg.connect(dsn) as conn:
            before = conn.execute("SELECT count(*), sum(value) FROM readings").fetchone()
        outcomes = ing.handle(msgs[:30] + msgs[-5:])  # the broker delivers them again
        assert {o.kind for o in outcomes} == {"duplicate"}
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*), sum(value) FROM readings").fetchone() == before
            s = summary(conn)
    finally:
        ing.close()
    for b in fleet:
        for stream, seqs in b.expected().items():
            sql = f"SELECT count(DISTINCT seq) FROM {stream} WHERE box_id = %s"  # noqa: S608
            got = count(dsn, sql, b.box_id)
            assert got == len(seqs), (b.box_id, stream)
    # Gaps exactly where the box evicted, and nowhere else.
    ((lo, hi),) = fleet[2].evicted["readings"]
    assert s["gaps"] == [["sb-fleet-0002", "readings", lo, hi, 24, "evicted"]]
    assert s["rejections"] == [] and s["chain_breaks"] == []
    assert all(not v["holes"] for v in s["streams"].values())
    hist = count(dsn, "SELECT count(*) FROM readings WHERE historical AND box_id = 'sb-fleet-0002'")
    assert hist > 0  # the backfill after the outage is flagged historical


def test_reordered_batches_leave_a_hole_until_it_fills(dsn: str) -> None:  # noqa: F811
    box = SimBox("sb-order", channels=2)
    register(dsn, box)
    for t in range(30):
        box.sample(now_ms() - 60_000 + t * 1000)
    envs = [e for e in box.batches(20) if "/readings" in e[0]]
    ing = Ingestor(dsn)
    try:
        ing.handle([Message(*envs[0]), Message(*envs[2])])
        with psycopg.connect(dsn) as conn:
            st = summary(conn)["streams"]["sb-order/readings"]
        assert st["holes"] == [(21, 40)]
        with psycopg.connect(dsn) as conn:
            assert due(conn, 60) == []  # too young to ask for
            conn.execute("UPDATE stream_state SET holes_since = now() - interval '2 minutes'")
            conn.commit()
            assert due(conn, 60) == [("sb-order", "readings", 21, 40)]
        assert request_resends(dsn, BrokerAddress(port=1), 60, dry_run=True) == [
            {"box": "sb-order", "stream": "readings", "first": 21, "last": 40}
        ]
        ing.handle([Message(*envs[1])])
        with psycopg.connect(dsn) as conn:
            st = summary(conn)["streams"]["sb-order/readings"]
            assert conn.execute("SELECT count(*) FROM gaps").fetchone() == (0,)
            assert due(conn, 0) == []
    finally:
        ing.close()
    assert st["holes"] == [] and st["covered"] == 60


def test_rejections_are_rows_and_never_store_data(dsn: str) -> None:  # noqa: F811
    box, stranger = SimBox("sb-known"), SimBox("sb-stranger")
    register(dsn, box)
    for t in range(10):
        box.sample(now_ms() - 20_000 + t * 1000)
        stranger.sample(now_ms() - 20_000 + t * 1000)
    topic, good = next(e for e in box.batches(100) if "/readings" in e[0])
    tampered = bytearray(good)
    tampered[-20] ^= 1
    unknown = next(e for e in stranger.batches(100) if "/readings" in e[0])
    ing = Ingestor(dsn)
    try:
        out = ing.handle(
            [
                Message(topic, bytes(tampered)),
                Message(*unknown),
                Message("safetybox/sb-other/up/readings", good),  # another box's topic
                Message(topic, b"garbage"),
            ]
        )
    finally:
        ing.close()
    assert [o.kind for o in out] == ["rejected"] * 4
    reasons = [o.reason for o in out]
    assert "authentication failed" in reasons[0]
    assert "not registered" in reasons[1]
    assert "is not box sb-known's" in reasons[2]
    assert "bad magic" in reasons[3]
    assert count(dsn, "SELECT count(*) FROM rejections") == 4
    assert count(dsn, "SELECT count(*) FROM readings") == 0


def test_rotation_grace_period_and_revocation(dsn: str) -> None:  # noqa: F811
    box = SimBox("sb-rot", channels=1)
    box.rotate(now=time.time() - 2 * 86400)  # retired two days ago
    old_key = box.retired[0][0]
    register(dsn, box, grace_days=7)
    ing = Ingestor(dsn)

    def batch_with(key: bytes) -> Message:
        saved, box.sync_key = box.sync_key, key
        box.sample(now_ms())
        env = next(e for e in box.batches(100) if "/readings" in e[0])
        box.sync_key = saved
        return Message(*env)

    try:
        assert ing.handle([batch_with(old_key)])[0].kind == "stored"  # within its grace
        assert ing.handle([batch_with(box.sync_key)])[0].kind == "stored"
        from box.sync.envelope import key_id_bytes

        with psycopg.connect(dsn) as conn:
            assert revoke(conn, box.box_id, key_id_bytes(old_key).hex())
        ing.keys._boxes.clear()  # another worker would re-read within CACHE_S
        out = ing.handle([batch_with(old_key)])[0]
        assert out.kind == "rejected" and "past its grace period" in out.reason
    finally:
        ing.close()
    # Past the grace period: a key retired 30 days ago is refused.
    late = SimBox("sb-late", channels=1)
    stale = late.sync_key
    late.rotate(now=time.time() - 30 * 86400)
    register(dsn, late, grace_days=7)
    late.sync_key, fresh = stale, late.sync_key
    late.sample(now_ms())
    ing = Ingestor(dsn)
    try:
        out = ing.handle([readings_batch(late)])[0]
    finally:
        ing.close()
    assert out.kind == "rejected" and "grace" in out.reason
    assert fresh != stale


def test_a_broken_event_chain_is_found_across_batches(dsn: str) -> None:  # noqa: F811
    box = SimBox("sb-chain", channels=1)
    register(dsn, box)
    for i in range(3):
        box._event(now_ms() - 10_000 + i)
    first = next(box.batches(100))
    # The box's chain is tampered with between batches: event 4 claims another predecessor.
    box.prev_hash = "f" * 64
    box._event(now_ms())
    second = next(box.batches(100))
    ing = Ingestor(dsn)
    try:
        ing.handle([Message(*first)])
        ing.handle([Message(*second)])
    finally:
        ing.close()
    with psycopg.connect(dsn) as conn:
        breaks = conn.execute("SELECT seq, reason FROM chain_breaks").fetchall()
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (4,)
    assert breaks == [(4, "event 4: prev_hash does not match event 3's hash")]


def test_rows_go_to_their_month_partition(dsn: str) -> None:  # noqa: F811
    box = SimBox("sb-months", channels=1)
    register(dsn, box)
    box.sample(1_767_225_600_000 - 1000)  # 2025-12-31T23:59:59Z
    box.sample(1_767_225_600_000)  # 2026-01-01T00:00:00Z
    box.sample(4_102_444_800_000 * 100)  # a clock far beyond any sane date
    ing = Ingestor(dsn)
    try:
        envs = [Message(*e) for e in box.batches(2) if "/readings" in e[0]]
        out = ing.handle(envs)
    finally:
        ing.close()
    assert [o.kind for o in out] == ["stored", "rejected"]
    assert "out of range" in out[1].reason
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM readings GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("readings_2025_12", 1), ("readings_2026_01", 1)]


def test_commands_are_numbered_in_the_database_and_replies_recorded(dsn: str) -> None:  # noqa: F811
    from ingest.commands import record

    box = SimBox("sb-cmd", cipher="sm4-gcm")
    register(dsn, box)
    with psycopg.connect(dsn) as conn:
        s1, env1 = record(conn, box.box_id, "ack_alarm", {"alarm": "A1", "note": ""}, "op")
        s2, env2 = record(
            conn, box.box_id, "resend", {"stream": "events", "first": 1, "last": 2}, "op"
        )
    assert (s1, s2) == (1, 2)
    # The box opens it with its own code and its downlink key.
    header, plain = open_envelope(env2, {contract.key_id_bytes(box.downlink_key): box.downlink_key})
    assert header.stream == Stream.COMMAND and header.first_seq == 2
    assert json.loads(plain)["cmd"] == "resend"
    ing = Ingestor(dsn)
    try:
        out = ing.handle([Message(*box.reply(1, True)), Message(*box.reply(9, True))])
    finally:
        ing.close()
    assert [o.kind for o in out] == ["reply", "rejected"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT seq, accepted FROM commands ORDER BY seq").fetchall()
    assert rows == [(1, True), (2, None)]


def test_metrics_endpoint_shows_counters_and_lag_per_box(dsn: str) -> None:  # noqa: F811
    box = SimBox("sb-metrics", channels=2)
    register(dsn, box)
    for t in range(5):
        box.sample(now_ms() - 5000 + t * 1000)
    metrics = Metrics()
    ing = Ingestor(dsn, metrics=metrics)
    try:
        ing.handle([Message(*e) for e in box.batches(100)])
        ing.handle([Message("safetybox/sb-metrics/up/readings", b"junk")])
    finally:
        ing.close()
    server = MetricsServer(metrics, dsn, lambda: (True, "ok"), port=0).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
            text = r.read().decode()
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            assert r.status == 200
    finally:
        server.stop()
    assert 'ingest_rows_total{stream="readings"} ' in text
    assert "ingest_rejections_total{reason=" in text
    assert 'ingest_box_lag_seconds{box="sb-metrics",stream="readings"}' in text
    assert 'ingest_box_missing_rows{box="sb-metrics",stream="readings"} 0' in text
    assert "ingest_database_up 1" in text


def test_contract_module_owns_the_topic_layout() -> None:
    assert contract.topic_filter("safetybox", "g1") == "$share/g1/safetybox/+/up/#"
    assert contract.down_topic("site/a", "sb-1") == "site/a/sb-1/down"


def test_a_value_postgresql_refuses_rejects_that_batch_only(dsn: str) -> None:  # noqa: F811
    good, odd = SimBox("sb-good", channels=1), SimBox("sb-odd", channels=1)
    register(dsn, good, odd)
    good.sample(now_ms())
    odd.sample(now_ms())
    odd.pending["readings"][0][1] = "tank\x00lel"  # authentic, but text PostgreSQL cannot hold
    msgs = [readings_batch(b) for b in (odd, good)]
    nan = SimBox("sb-nan", channels=1)
    register(dsn, nan)
    nan.sample(now_ms())
    nan.pending["readings"][0][3] = float("nan")  # json.dumps writes NaN, which is not JSON
    msgs.append(readings_batch(nan))
    ing = Ingestor(dsn)
    try:
        out = ing.handle(msgs)
    finally:
        ing.close()
    assert [o.kind for o in out] == ["rejected", "stored", "rejected"]
    assert out[0].reason.startswith("database:")
    assert "finite" in out[2].reason
    assert count(dsn, "SELECT count(*) FROM readings") == 1
    assert count(dsn, "SELECT count(*) FROM rejections") == 2


def test_a_real_box_export_and_its_rotation_import(dsn: str, tmp_path: Path) -> None:  # noqa: F811
    """The exports `safetybox keys export` writes, before and after `keys rotate`."""
    from tests.conftest import run_cli

    home = tmp_path / "box"
    run_cli(home, "init")
    first = tmp_path / "keys-1.json"
    run_cli(home, "keys", "export", "-o", str(first))
    run_cli(home, "keys", "rotate")
    second = tmp_path / "keys-2.json"
    run_cli(home, "keys", "export", "-o", str(second))
    exp1, exp2 = (json.loads(p.read_text()) for p in (first, second))
    with psycopg.connect(dsn) as conn:
        box_id = import_export(conn, exp1)
        assert import_export(conn, exp2, grace_days=7) == box_id == exp1["box_id"]
        rows = conn.execute(
            "SELECT key_id, retired_at IS NOT NULL, valid_until - retired_at FROM box_keys"
            " ORDER BY retired_at NULLS FIRST"
        ).fetchall()
    old_id = exp1["sync_keys"][0]["key_id"]
    new_id = next(k["key_id"] for k in exp2["sync_keys"] if k["retired_at"] is None)
    assert [(bytes(r[0]).hex(), r[1]) for r in rows] == [(new_id, False), (old_id, True)]
    assert rows[1][2].days == 7


def test_a_payload_nested_too_deep_is_rejected_and_the_rest_stored(dsn: str) -> None:  # noqa: F811
    from box.sync.envelope import CIPHER_NAMES, Header, key_id_bytes, seal

    box = SimBox("sb-deep", channels=1)
    register(dsn, box)
    head = b'{"v":1,"box":"sb-deep","stream":"events","first":1,"last":1,"events":'
    body = head + b"[" * 200_000 + b"]" * 200_000 + b"}"
    header = Header(
        CIPHER_NAMES[box.cipher],
        0,
        Stream.EVENTS,
        box.box_id,
        key_id_bytes(box.sync_key),
        1,
        1,
        box.nonces.next(),
    )
    deep = Message("safetybox/sb-deep/up/events", seal(header, body, box.sync_key))
    box.sample(now_ms())
    ing = Ingestor(dsn)
    try:
        out = ing.handle([deep, readings_batch(box)])
    finally:
        ing.close()
    assert [o.kind for o in out] == ["rejected", "stored"]
    assert "unreadable payload" in out[0].reason


def test_version_1_event_hashes_of_older_boxes_verify(dsn: str) -> None:  # noqa: F811
    from box.store.events import HASH_V_LEGACY, event_hash

    box = SimBox("sb-legacy", channels=1)
    register(dsn, box)
    for i in range(2):
        box._event(now_ms() - 1000 + i)
    prev = "0" * 64
    for e in box.pending["events"]:  # re-chain them as a box before hash versions did
        text = json.dumps(e["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        e["prev_hash"] = prev
        e["hash"] = event_hash(
            prev, e["seq"], e["ts"], e["kind"], e["level"], e["source"], text, hash_v=HASH_V_LEGACY
        )
        del e["hash_v"]  # such boxes did not send it
        prev = e["hash"]
    ing = Ingestor(dsn)
    try:
        out = ing.handle([Message(*next(box.batches(100)))])
    finally:
        ing.close()
    assert out[0].kind == "stored" and out[0].chain_break == ""
    assert count(dsn, "SELECT count(*) FROM events WHERE hash_v = 1") == 2
