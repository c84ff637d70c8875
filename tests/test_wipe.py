"""``safetybox wipe``: announced upstream, then the keys are shredded and the box stays down."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.errors import KeyFileError
from box.keys import STORE_KEY, FileKeyProvider
from box.paths import BoxHome
from box.store.database import connect
from box.store.writer import StoreError
from sim.upstream import Consumer, MqttConsumer
from tests.broker import Broker
from tests.conftest import REPO, run_cli, sim_body, write_config
from tests.test_sync_daemon import body_with_sync

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


def _restart_refused(home: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "box", "--home", str(home), "run"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode != 0
    return done.stdout + done.stderr


def test_a_running_box_announces_the_wipe_upstream_then_its_keys_are_gone(
    home: Path, broker: Broker, daemon_factory
) -> None:  # noqa: ANN001
    write_config(home, body_with_sync(broker.port))
    d = daemon_factory(home)
    d.wait_ready()
    box_id = BoxHome.under(home).read_box_id()
    prov = json.loads(run_cli(home, "keys", "export").output)
    consumer = Consumer(prov)
    got: list[dict] = []
    orig = consumer._emit
    consumer._emit = lambda rec: (got.append(rec), orig(rec))[1]
    mq = MqttConsumer(consumer, "127.0.0.1", broker.port, client_id="platform-sub").start()
    store_key = FileKeyProvider(home / "keys").get(STORE_KEY)
    try:
        wrong = run_cli(home, "wipe", "--confirm", "not-this-box", check=False)
        assert wrong.exit_code == 1 and "nothing was destroyed" in wrong.output
        assert (home / "keys" / "store.key").exists()
        result = json.loads(run_cli(home, "wipe", "--confirm", box_id, "--json").output)
    finally:
        mq.stop()
    assert result["upstream"] == "delivered"
    destruction = [r for r in got if r.get("kind") == "data_destruction"]
    assert destruction and destruction[0]["details"]["who"] == "api:cli"
    assert d.proc.wait(30) == 0, "the box stopped in order"
    assert sorted(Path(p).name for p in result["destroyed"]) == [
        "api.key", "downlink.key", "store.key", "sync.key", "web-tls.key",
    ]  # fmt: skip
    assert [p.name for p in (home / "keys").iterdir()] == ["web.crt"], "public files stay"
    with pytest.raises(KeyFileError):
        FileKeyProvider(home / "keys").get(STORE_KEY)
    # The store file is still there, and readable only with the key that no longer exists.
    connect(BoxHome.under(home).database_file, store_key, readonly=True).close()
    with pytest.raises(StoreError):
        connect(BoxHome.under(home).database_file, bytes(32), readonly=True)
    assert "this box was wiped" in _restart_refused(home)


def test_a_stopped_box_is_wiped_without_announcement_and_only_when_confirmed(home: Path) -> None:
    write_config(home, sim_body())
    box_id = BoxHome.under(home).read_box_id()
    refused = run_cli(home, "wipe", check=False)  # CliRunner: no terminal, no --confirm
    assert refused.exit_code == 2 and "--confirm BOX_ID" in refused.output
    out = run_cli(home, "wipe", "--confirm", box_id, "--delete-data").output
    assert "the box was not running: no announcement upstream" in out
    assert "destroyed 5 key files" in out and "box.db" in out
    assert not list((home / "data").glob("box.db*"))
    assert "this box was wiped" in _restart_refused(home)
