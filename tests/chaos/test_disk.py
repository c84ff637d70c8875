"""A full disk and a disk that turns read-only: the alarms keep sounding, the box says so
(a store fault alarm, unhealthy in health and status), nothing queued is lost silently, and the
store recovers (or is intact at the next start) when space returns."""

from __future__ import annotations

import json
from pathlib import Path

from box.paths import BoxHome
from box.runtime import status
from box.runtime.daemon import Daemon
from tests.chaos.disks import ext4_image, fail_to_read_only, fill, tmpfs
from tests.conftest import sim_body, wait_for, write_config
from tests.store_invariants import check_store

BODY = sim_body(interval=0.05, step_at=1.0, step_back=100_000).replace(
    "maintenance_interval_s = 3600", "maintenance_interval_s = 3600\nqueue_max_batches = 16"
)


def home_on(home: Path, data: Path) -> BoxHome:
    plain = BoxHome.under(home)
    return BoxHome(config_file=plain.config_file, keys_dir=plain.keys_dir, data_dir=data)


def store_key(bh: BoxHome) -> bytes:
    from box.keys import FileKeyProvider

    return FileKeyProvider(bh.keys_dir).get("store")


def alarm(d: Daemon, alarm_id: str) -> dict | None:
    return next((v for v in d.engine.views if v["id"] == alarm_id), None)


def assert_alarms_run_and_the_store_faults(d: Daemon) -> None:
    wait_for(lambda: (a := alarm(d, "t1.lel:A1")) and a["condition"], what="A1 raised")
    fault = wait_for(lambda: alarm(d, "ext:store"), what="the store fault alarm")
    assert fault["kind"] == "fault" and fault["condition"]
    assert d.outputs.states()["buzzer"], "the buzzer sounds for A1"
    problems = status.health_problems(d)
    assert any("store" in p for p in problems), problems
    snap = json.loads(json.dumps(status.snapshot(d), allow_nan=False))
    assert not snap["healthy"] and snap["store"]["failed_commits"] + (not snap["store"]["open"])


def seq_kinds(bh: BoxHome) -> list[tuple[str, int]]:
    from box.store.database import connect

    conn = connect(bh.database_file, store_key(bh), readonly=True)
    try:
        return [(k, s) for s, k in conn.execute("SELECT seq, kind FROM events ORDER BY seq")]
    finally:
        conn.close()


def events_of(bh: BoxHome, kind: str) -> list[dict]:
    from box.store.database import connect

    conn = connect(bh.database_file, store_key(bh), readonly=True)
    try:
        rows = conn.execute("SELECT details FROM events WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(d) for (d,) in rows]
    finally:
        conn.close()


def test_the_box_starts_and_alarms_on_a_full_disk_and_recovers(home: Path, tmp_path: Path) -> None:
    write_config(home, BODY)
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        bh = home_on(home, mnt / "data")
        d = Daemon(bh)
        d.start()
        wait_for(lambda: d.writer.stats.committed_readings > 20, what="readings stored")
        d.stop()
        # The worst case: the reserve already used up (an older box, or a disk full for long),
        # so the store cannot even be opened: the box must run its alarms without it.
        (bh.data_dir / ".store-reserve").unlink()
        filler = fill(mnt)
        d = Daemon(bh)
        d.start()  # used to fail: "database or disk is full" from a PRAGMA at open
        try:
            assert_alarms_run_and_the_store_faults(d)
            wait_for(lambda: d.writer.stats.dropped_readings > 0, what="the queue fills")
            filler.unlink()  # space returns
            wait_for(lambda: not status.health_problems(d), timeout=20, what="recovered")
            wait_for(lambda: not (alarm(d, "ext:store") or {}).get("condition"), what="cleared")
            assert d.writer.flush()
        finally:
            d.stop()
        check_store(bh.database_file, store_key(bh))
        kinds = [k for k, _ in seq_kinds(bh)]
        first_stop = kinds.index("daemon_stopped")
        second_run = kinds[first_stop + 1 :]
        assert "daemon_started" in second_run and "alarm_raised" in second_run, (
            "what the box recorded on the full disk was held and committed when space returned"
        )
        gaps = [g for g in events_of(bh, "gap") if g["reason"] == "queue_full"]
        assert gaps and sum(g["count"] for g in gaps) == d.writer.stats.dropped_readings


def test_a_disk_that_fills_while_running_evicts_readings_with_a_gap(
    home: Path, tmp_path: Path
) -> None:
    write_config(home, BODY.replace("interval_s = 0.05", "interval_s = 0.01"))
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        bh = home_on(home, mnt / "data")
        d = Daemon(bh)
        d.start()
        try:
            wait_for(lambda: d.writer.stats.committed_readings > 500, what="readings stored")
            assert d.writer.reserve.held
            fill(mnt)
            wait_for(lambda: d.writer.stats.failed_commits > 0, what="commits fail")
            assert_alarms_run_and_the_store_faults(d)
            # Retention makes room inside the file: commits go on without new disk space.
            wait_for(lambda: not d.writer.commit_problem(), timeout=30, what="commits resume")
            committed = d.writer.stats.committed_readings
            wait_for(lambda: d.writer.stats.committed_readings > committed + 50, what="ingest")
        finally:
            d.stop()
        check_store(bh.database_file, store_key(bh))
        assert [g for g in events_of(bh, "gap") if g["reason"] == "disk_full"]


def test_a_read_only_disk_at_start_and_one_gone_read_only_keep_the_alarms(
    home: Path, tmp_path: Path
) -> None:
    write_config(home, BODY)
    image = tmp_path / "card.img"
    with ext4_image(tmp_path / "card", image) as card:
        bh = home_on(home, card / "data")
        d = Daemon(bh)
        d.start()
        wait_for(lambda: d.writer.stats.committed_readings > 20, what="readings stored")
        d.stop()
    # A card mounted read-only (fsck gave up on it): the box starts and alarms.
    with ext4_image(tmp_path / "card", image, readonly=True) as card:
        bh = home_on(home, card / "data")
        d = Daemon(bh)
        d.start()
        try:
            assert_alarms_run_and_the_store_faults(d)
        finally:
            d.stop()
    # A card that fails under the running box: the kernel turns it read-only.
    with ext4_image(tmp_path / "card", image) as card:
        bh = home_on(home, card / "data")
        d = Daemon(bh)
        d.start()
        try:
            wait_for(lambda: d.writer.stats.committed_readings > 20, what="readings stored")
            assert d.writer.flush()
            fail_to_read_only(card)
            assert_alarms_run_and_the_store_faults(d)
        finally:
            d.stop()  # counts what it could not commit; does not hang or raise
        held = d.writer.stats
        assert held.lost_readings + held.dropped_readings + held.lost_events > 0
    with ext4_image(tmp_path / "card", image) as card:  # after a reboot (journal replayed)
        bh = home_on(home, card / "data")
        check_store(bh.database_file, store_key(bh))
