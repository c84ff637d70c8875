"""One writer per store: a second daemon is refused, CLI writes go through a running box, and a
writer that cannot commit says so (health, fault alarm, counted losses)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.records import Event, Quality, Reading
from box.instance import BoxRunning, InstanceLock, lock_file_for
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.store.config import StoreSection
from box.store.writer import StoreWriter
from tests.conftest import REPO, open_reader, run_cli, sim_body, wait_for, write_config


def _writer(home: Path, **kw: object) -> StoreWriter:
    bh = BoxHome.under(home)
    key = FileKeyProvider(bh.keys_dir).get("store")
    return StoreWriter(bh.database_file, key, StoreSection(commit_interval_ms=5), **kw)


def test_a_second_writer_on_one_store_is_refused_naming_the_first(home: Path) -> None:
    first = _writer(home, owner="daemon")
    try:
        with pytest.raises(BoxRunning) as err:
            _writer(home, owner="users add")
        msg = str(err.value)
        assert "the box daemon (pid" in msg
        assert str(BoxHome.under(home).database_file) in msg
        assert "stop it first" in msg
    finally:
        first.stop()
    _writer(home).stop()  # released by stop(): the next one gets it


def test_the_lock_is_released_when_its_holder_is_killed(home: Path) -> None:
    lock_file = lock_file_for(BoxHome.under(home).database_file)
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from box.instance import InstanceLock\n"
        "InstanceLock(Path(sys.argv[1])).acquire('daemon')\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(lock_file)], stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
        holder = InstanceLock(lock_file).holder()
        assert holder is not None and holder.pid == proc.pid and holder.role == "daemon"
        with pytest.raises(BoxRunning):
            InstanceLock(lock_file).acquire("daemon")
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()  # type: ignore[union-attr]
    lock = InstanceLock(lock_file)
    assert lock.holder() is None
    lock.acquire("daemon")  # a SIGKILLed holder never blocks the restart
    lock.release()


@pytest.mark.slow
def test_a_second_run_exits_naming_the_running_pid(home: Path, daemon_factory) -> None:  # noqa: ANN001
    write_config(home, sim_body())
    first = daemon_factory(home)
    first.wait_ready()
    second = subprocess.run(
        [sys.executable, "-m", "box", "--home", str(home), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert second.returncode != 0
    assert f"the box daemon (pid {first.proc.pid}) already writes the store" in second.stderr
    assert "Traceback" not in second.stderr
    status = first.status()
    assert status["healthy"], status["problems"]
    assert first.stop() == 0
    conn = open_reader(home)
    started = conn.execute("SELECT count(*) FROM events WHERE kind = 'daemon_started'").fetchone()
    conn.close()
    assert started[0] == 1, "the second run wrote nothing into the store"
    assert run_cli(home, "audit", "verify").exit_code == 0


@pytest.mark.slow
def test_users_commands_on_a_running_box_go_through_it(home: Path, daemon_factory) -> None:  # noqa: ANN001
    write_config(home, sim_body())
    d = daemon_factory(home)
    d.wait_ready()
    out = run_cli(home, "users", "add", "li_wei", "--role", "operator").output
    assert "temporary password" in out
    listed = json.loads(run_cli(home, "users", "list", "--json").output)
    assert {"name": "li_wei", "role": "operator", "must_change": True} in listed
    run_cli(home, "users", "set-role", "li_wei", "viewer")
    assert "temporary password" in run_cli(home, "users", "reset", "li_wei").output
    refused = run_cli(home, "users", "remove", "admin", check=False)
    assert refused.exit_code == 1 and "last admin" in refused.output
    run_cli(home, "users", "remove", "li_wei")

    # The daemon still stores what happens after: a failed login is an audited event.
    req = urllib.request.Request(
        d.url + "/api/session",
        data=json.dumps({"user": "admin", "password": "wrong"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(req, timeout=5)  # noqa: S310 - loopback
    wait_for(lambda: d.status()["store"]["failed_commits"] == 0, what="status")
    assert d.stop() == 0
    assert "lost_events=0" in d.output()
    conn = open_reader(home)
    kinds = [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY seq")]
    by = [
        json.loads(x)["by"]
        for (x,) in conn.execute("SELECT details FROM events WHERE kind LIKE 'user_%'")
    ]
    conn.close()
    for kind in ("user_created", "user_role_changed", "password_reset", "user_removed"):
        assert kind in kinds
    assert "login_failed" in kinds
    assert kinds[-1] == "daemon_stopped"
    assert all(b.startswith("api:cli:") for b in by), by
    assert run_cli(home, "audit", "verify").exit_code == 0


def test_users_commands_without_a_box_work_directly(home: Path) -> None:
    run_cli(home, "users", "add", "li_wei", "--role", "operator")
    assert lock_file_for(BoxHome.under(home).database_file).exists()
    assert InstanceLock(lock_file_for(BoxHome.under(home).database_file)).holder() is None
    conn = open_reader(home)
    details = conn.execute("SELECT details FROM events WHERE kind = 'user_created'").fetchone()
    conn.close()
    assert json.loads(details[0])["by"].startswith("cli:")


def _fail_commits(writer: StoreWriter) -> None:
    """Make the writer's own connection refuse writes, as a read-only remount would. The
    pragma holds from the moment it runs; if readings share its commit, that commit already
    fails and the call's answer never comes, which is fine here."""
    once: list[bool] = []

    def refuse(conn: object) -> None:  # a failed commit runs its calls again: only once here
        if not once:
            once.append(True)
            conn.execute("PRAGMA query_only = 1")  # type: ignore[attr-defined]

    with contextlib.suppress(TimeoutError):
        writer.call(refuse, timeout=2)


def test_a_writer_that_cannot_commit_reports_it_and_counts_every_lost_item(home: Path) -> None:
    seen: list[str] = []
    w = _writer(home, on_health=seen.append)
    w.start()
    w.submit_readings([Reading("a", 1_000 + i, float(i), Quality.GOOD) for i in range(3)])
    assert w.flush()
    assert w.commit_problem() is None
    _fail_commits(w)
    w.submit_readings([Reading("a", 2_000 + i, float(i), Quality.GOOD) for i in range(5)])
    w.submit_event(Event("test", "t", 2_000, 0, {}))
    wait_for(lambda: w.commit_problem(), what="commit problem")
    problem = w.commit_problem()
    assert problem is not None and "store cannot commit" in problem and "readonly" in problem
    assert len(seen) == 1 and "readonly" in seen[0]
    w.stop(timeout=5)
    st = w.stats
    assert st.lost_readings == 5 and st.lost_events == 1
    assert st.uncommitted_readings == 5
    assert st.committed_readings == 3


def test_commits_recover_and_say_so(home: Path) -> None:
    seen: list[str] = []
    w = _writer(home, on_health=seen.append)
    w.start()
    try:
        _fail_commits(w)
        w.submit_event(Event("test", "t", 1, 0, {}))
        wait_for(lambda: w.commit_problem(), what="commit problem")
        w._conn.execute("PRAGMA query_only = 0")  # the disk is writable again
        wait_for(lambda: w.commit_problem() is None, what="recovery")
        assert seen[-1] == "" and len(seen) == 2
        assert w.flush()
        assert w.stats.committed_events == 1 and w.stats.lost_events == 0
    finally:
        w.stop()


@pytest.fixture
def daemon(home: Path) -> Iterator[Daemon]:
    write_config(home, sim_body(step_at=3600))
    d = Daemon(BoxHome.under(home))
    d.start()
    yield d
    d.stop()


def test_a_daemon_whose_store_cannot_commit_is_unhealthy_and_shows_a_fault(daemon: Daemon) -> None:
    assert not daemon.api.health_problems()
    _fail_commits(daemon.writer)
    wait_for(lambda: daemon.api.health_problems(), what="health problem")
    assert any("store cannot commit" in p for p in daemon.api.health_problems())
    assert not daemon.api.snapshot()["healthy"]
    # The watchdog is still fed: restarting the box cures no disk, it would only lose the
    # alarms' state (a stuck or dead worker still starves it: test_daemon.py).
    assert daemon.tick() is True

    def fault_shown() -> bool:
        views = {v["id"]: v for v in daemon.engine.views}
        v = views.get("ext:store")
        return bool(v and v["kind"] == "fault" and v["state"] == "active_unack")

    wait_for(fault_shown, what="store fault alarm")
    wait_for(lambda: daemon.outputs.states()["yellow"]["mode"] != "off", what="yellow lamp")
    daemon.writer._conn.execute("PRAGMA query_only = 0")
    wait_for(lambda: not daemon.api.health_problems(), what="healthy again")
