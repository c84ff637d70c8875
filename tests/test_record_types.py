"""A record type added by a plug-in flows end to end (driver -> pipeline -> live state ->
store -> outbox -> consumer) without a line of the core knowing it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from box.core import plugins
from box.core.record_types import RecordTypes, to_row
from box.core.records import Position, Quality
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.sync.keyring import SyncKeyring
from drivers.base import DriverRegistry
from drivers.simulated import SimDriver
from sim.upstream import Consumer, MqttConsumer
from tests.broker import Broker
from tests.conftest import open_reader, sim_body, wait_for, write_config
from tests.example_plugins import NoiseDriver, NoiseLevel

EPS = [
    EntryPoint("noise", "tests.example_plugins:NoiseLevel", plugins.RECORDS),
    EntryPoint("broken", "no_such_module_xyz:Thing", plugins.RECORDS),
    EntryPoint("notarecord", "tests.example_plugins:NotARecord", plugins.RECORDS),
    EntryPoint("position", "tests.example_plugins:NoiseLevel", plugins.RECORDS),
]


@pytest.fixture
def with_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = plugins.entry_points  # other groups (drivers) stay as installed

    def eps(group: str) -> list[EntryPoint]:
        return (
            [e for e in EPS if e.group == group]
            if group == plugins.RECORDS
            else list(installed(group=group))
        )

    monkeypatch.setattr(plugins, "entry_points", eps)


def test_the_registry_takes_good_record_types_and_reports_the_rest(with_plugins: None) -> None:
    types = RecordTypes.load()
    assert types.by_name["noise"] is NoiseLevel
    assert types.by_name["position"] is Position, "a plug-in cannot replace a built-in type"
    assert set(types.failed) == {"broken", "notarecord", "position"}
    assert "RECORD_TYPE" in types.failed["notarecord"]
    assert NoiseLevel in types.generic() and Position in types.generic()


def test_rows_are_plain_json_with_the_key_named_by_the_type() -> None:
    kind, ts, key, data = to_row(Position("tag-7", 5, 1.5, float("nan"), quality=Quality.BAD))
    assert (kind, ts, key) == ("position", 5, "tag-7")
    assert json.loads(data)["y"] is None and json.loads(data)["quality"] == 2


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.mark.slow
def test_a_plugin_record_type_flows_end_to_end(
    with_plugins: None, home: Path, broker: Broker
) -> None:
    body = (
        f"\n[sync]\nenabled = true\nport = {broker.port}\nbatch_max_age_s = 0.2\n"
        + sim_body(step_at=0.2, step_back=3600)
        + '\n[[drivers]]\ntype = "noise"\nname = "meter1"\nmeter = "gate"\n'
    )
    write_config(home, body)
    registry = DriverRegistry(drivers={"sim": SimDriver, "noise": NoiseDriver})
    d = Daemon(BoxHome.under(home), registry=registry)
    d.start()
    mq = None
    try:
        # (keys export would read box.toml with the installed drivers, which lack "noise")
        prov = SyncKeyring(FileKeyProvider(BoxHome.under(home).keys_dir)).export(
            d.box_id, "aes-256-gcm"
        )
        consumer = Consumer(prov)
        mq = MqttConsumer(consumer, "127.0.0.1", broker.port, client_id="platform").start()
        received: list[dict] = []
        orig = consumer._emit
        consumer._emit = lambda rec: (
            rec["stream"] == "records" and received.append(rec),
            orig(rec),
        )[1]  # noqa: E501
        wait_for(lambda: len(received) >= 5, timeout=20, what="noise records upstream")
        assert {r["type"] for r in received} == {"noise"}
        assert received[0]["key"] == "gate" and 60 <= received[0]["data"]["dba"] <= 82
        seqs = [r["seq"] for r in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        snap = d.api.snapshot()
        assert 60 <= snap["records"]["noise"]["gate"]["dba"] <= 82, "the live state knows it"
        assert set(snap["failed_record_types"]) == {"broken", "notarecord", "position"}
        assert snap["healthy"], snap["problems"]
        wait_for(lambda: any(v["id"] == "t1.lel:A1" for v in d.engine.views), what="A1 as ever")
        assert d.pipeline.refused_records == 0
    finally:
        if mq is not None:
            mq.stop()
        d.stop()
    conn = open_reader(home)
    rows = conn.execute("SELECT type, key, data FROM records ORDER BY id").fetchall()
    conn.close()
    assert len(rows) >= 5 and {(t, k) for t, k, _ in rows} == {("noise", "gate")}
    assert all(60 <= json.loads(data)["dba"] <= 82 for _, _, data in rows)


def test_records_of_an_unregistered_type_are_refused_and_counted(home: Path) -> None:
    write_config(home, sim_body())
    d = Daemon(BoxHome.under(home))  # no plug-in: "noise" is unknown here
    d.start()
    try:
        d.pipeline.submit([NoiseLevel("gate", 1, 70.0)])
        wait_for(lambda: d.pipeline.refused_records == 1, what="refused")
        assert d.pipeline.latest == {}
        assert d.api.health_problems() == []
    finally:
        d.stop()
