"""Power loss as SIGKILL at random moments: during ingest (with retention evicting by size),
during a config change, during a backup. After every kill the store passes the integrity check,
the hash chain and its anchor verify, every row seen committed before the kill is there, and
every hole in the reading ids is explained by a gap event.

Short by default (``CHAOS_CYCLES`` cycles per scenario, 2); ``make chaos`` runs 50. Each cycle
prints one line of figures (the reliability report quotes them)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from box.keys import FileKeyProvider
from box.paths import BoxHome
from tests.conftest import REPO, open_reader, sim_body, wait_for, write_config
from tests.store_invariants import check_store

pytestmark = pytest.mark.slow

CYCLES = int(os.environ.get("CHAOS_CYCLES", "2"))
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
# Fast ingest into a 1 MB budget evicted every second: kills land inside retention too.
BODY = (
    sim_body(interval=0.002, step_at=0.5, step_back=1.0).replace(
        "maintenance_interval_s = 3600", "maintenance_interval_s = 1\nmax_size_mb = 1"
    )
    + "".join(f'\n[[channels]]\nid = "load.c{i}"\nkind = "other"\nunit = "x"\n' for i in range(20))
    + '\n[[drivers]]\ntype = "sim"\nname = "load"\ninterval_s = 0.002\n'
    + "".join(
        f'[[drivers.points]]\nchannel = "load.c{i}"\n'
        f'waveform = {{ shape = "sine", mean = 0, amplitude = 1, period_s = 7 }}\n'
        for i in range(20)
    )
)


def committed(home: Path) -> tuple[int, int]:
    """(max reading id, max event seq) another connection sees: committed."""
    conn = open_reader(home)
    try:
        return conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM readings),"
            " (SELECT coalesce(max(seq), 0) FROM events)"
        ).fetchone()
    finally:
        conn.close()


def gap_events(home: Path) -> int:
    conn = open_reader(home)
    try:
        return conn.execute("SELECT count(*) FROM events WHERE kind = 'gap'").fetchone()[0]
    finally:
        conn.close()


def check_after_kill(home: Path, seen: tuple[int, int]) -> dict[str, int]:
    bh = BoxHome.under(home)
    counts = check_store(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"))
    now = committed(home)
    assert now[0] >= seen[0] and now[1] >= seen[1], f"committed rows went missing: {seen} -> {now}"
    conn = open_reader(home)
    try:
        (events,) = conn.execute(
            "SELECT count(*) FROM events WHERE seq <= ?", (seen[1],)
        ).fetchone()
        (first,) = conn.execute("SELECT coalesce(min(seq), 1) FROM events").fetchone()
    finally:
        conn.close()
    assert events == seen[1] - first + 1, "an event committed before the kill is missing"
    return counts


def seed_old_readings(home: Path, rows: int = 120_000) -> None:
    """Readings 100 days old: the first maintenance evicts them by age (chunks of 50,000,
    each with its gap event), then the size budget keeps evicting: kills land in both."""
    from box.core.records import Quality, Reading, now_ms
    from box.store.config import StoreSection
    from box.store.writer import StoreWriter

    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.start()
    start = now_ms() - 100 * 86_400_000
    for b in range(0, rows, 1000):
        w.submit_readings(
            [Reading("t1.temp", start + b + i, 20.0, Quality.GOOD) for i in range(1000)]
        )
    assert w.flush(60)
    w.stop()


def run_cycles(
    home: Path, daemon_factory, during, name: str, body: str = BODY, after_kill=None
) -> None:
    rng = random.Random(f"{SEED}-{name}")
    write_config(home, body)
    seed_old_readings(home)
    evicted = 0
    for cycle in range(CYCLES):
        d = daemon_factory(home)
        started = time.monotonic()
        d.wait_ready(timeout=30)
        ready_s = time.monotonic() - started
        wait_for(lambda: committed(home)[0] > 0, what="ingest")
        if cycle == 0:  # retention has begun (its first chunk is in): later kills land in it
            wait_for(lambda: gap_events(home) > 0, timeout=60, what="retention evicting")
        stop = threading.Event()
        action = threading.Thread(target=during, args=(home, d, rng, stop), daemon=True)
        action.start()
        time.sleep(rng.uniform(0.2, 2.5))
        seen = committed(home)
        d.signal(signal.SIGKILL)
        d.proc.wait(10)
        stop.set()
        action.join(20)
        assert d.proc.returncode == -signal.SIGKILL
        counts = check_after_kill(home, seen)
        if after_kill is not None:
            after_kill(home)
        evicted = seen[0] - counts["readings"]
        print(  # noqa: T201 - the figures of the reliability report
            f"chaos {name} cycle {cycle + 1}/{CYCLES} seed {SEED}: ready in {ready_s:.2f} s, "
            f"killed with {seen[0]} readings / {seen[1]} events committed; stored "
            f"{counts['readings']} readings ({evicted} evicted, each in a gap event) and "
            f"{counts['events']} events; 0 lost, 0 unexplained holes"
        )
    assert evicted > 0, "retention ran during the cycles (kills could land in it)"


def ingest(home: Path, d, rng: random.Random, stop: threading.Event) -> None:
    stop.wait()


def config_change(home: Path, d, rng: random.Random, stop: threading.Event) -> None:
    path = home / "box.toml"
    at = 25.0
    while not stop.is_set() and d.proc.poll() is None:
        text = path.read_text()
        new = 25.0 if at != 25.0 else 30.0
        path.write_text(text.replace(f"at = {at}, level = 2", f"at = {new}, level = 2"))
        at = new
        d.signal(signal.SIGHUP)
        stop.wait(rng.uniform(0.05, 0.3))


def backup(home: Path, d, rng: random.Random, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set() and d.proc.poll() is None:
        n += 1
        out = home / f"backup-{time.monotonic_ns()}-{n}.db"
        subprocess.run(
            [sys.executable, "-m", "box", "--home", str(home), "backup", "-o", str(out)],
            cwd=REPO,
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.mark.parametrize(
    "during", [ingest, config_change, backup], ids=["ingest", "config change", "backup"]
)
def test_sigkill_at_random_moments_loses_nothing(home: Path, daemon_factory, during) -> None:
    run_cycles(home, daemon_factory, during, during.__name__)


def test_sigkill_while_syncing_loses_nothing_and_never_reuses_a_boot_number(
    home: Path, daemon_factory, tmp_path: Path
) -> None:
    """The uplink to a real broker runs while the kills land; each boot seals with a boot
    number larger than every earlier one (GCM nonces never repeat across kills)."""
    from tests.broker import Broker

    broker = Broker(tmp_path / "broker")
    if broker.proc is None:
        broker.start()
    boots: list[int] = []

    def boot_grew(home: Path) -> None:
        boot = int((home / "data" / "sync-boot").read_text())
        assert not boots or boot > boots[-1], f"boot number {boot} after {boots}"
        boots.append(boot)

    sync = f"[sync]\nenabled = true\nport = {broker.port}\nbatch_max_rows = 500\n"
    try:
        run_cycles(home, daemon_factory, ingest, "sync", sync + BODY, boot_grew)
    finally:
        broker.stop()
    assert len(boots) == CYCLES
