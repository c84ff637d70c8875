"""``bench pipeline``: synthetic readings through the daemon's rule stage and encrypted store.

Two phases in one run: a saturating phase for sustained readings/s, then a paced phase at half
that rate for reading-to-commit latency (latency of a saturated queue only measures the queue).
The baseline is raw ``executemany`` into a plain SQLite file with the same table and index.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from box.alarms.engine import AlarmEngine
from box.bench import Step, quiet
from box.bench.stats import median, peak_rss_mb, percentile, pin_to_one_core
from box.config.schema import BoxConfigBase, StoreSection, build_config_model
from box.core.records import Quality, Reading, now_ms
from box.runtime.logs import CoreLog
from box.runtime.pipeline import Pipeline
from box.store.writer import StoreWriter
from drivers.base import default_registry

BATCH = 500
# Batches queued in the pipeline and the writer together. Each alarm batch of the pool adds
# two writer items per reading (an event and a state entry), so 256 batches in the pipeline
# could flood the writer's 4096 items once the rule stage outran it; readings are then
# refused by design (a gap event), which a throughput figure must not include.
IN_FLIGHT = 128


def _config(n: int) -> BoxConfigBase:
    """``n`` channels with thresholds (a rule kind's key: validated by the composed schema)."""
    channels = [
        {
            "id": f"bench.ch{i}",
            "kind": "gas_lel",
            "unit": "%LEL",
            "range": (0, 100),
            "alarms": {"thresholds": {"levels": [{"name": "A1", "at": 50.0}], "deadband": 2.0}},
        }
        for i in range(n)
    ]
    return build_config_model(default_registry()).model_validate({"channels": channels})


def _batches(channels: int, count: int) -> list[list[Reading]]:
    """A pool of batches reused round-robin. Values stay below A1 except in the last batch of
    the pool, so every channel in it raises and clears an alarm once per cycle."""
    ts = now_ms()
    pool = []
    for b in range(count):
        high = b == count - 1
        pool.append(
            [
                Reading(
                    f"bench.ch{(b * BATCH + i) % channels}",
                    ts + b,
                    60.0 if high else float(i % 40),
                    Quality.GOOD,
                )
                for i in range(BATCH)
            ]
        )
    return pool


def _pipeline_run(workdir: Path, total: int, channels: int, rate: float | None) -> dict[str, Any]:
    latencies_ms: list[float] = []
    lock = threading.Lock()

    committed = threading.Event()  # wakes the saturating producer (instead of polling)

    def on_commit(batches: list[tuple[int, int]]) -> None:
        done = time.perf_counter_ns()
        with lock:
            latencies_ms.extend((done - entered) / 1e6 for entered, _ in batches)
        committed.set()

    settings = StoreSection(queue_max_batches=4096)
    db = workdir / f"pipeline-{'paced' if rate else 'max'}.db"
    writer = StoreWriter(db, os.urandom(32), settings, on_commit=on_commit)
    config = _config(channels)
    engine = AlarmEngine(config, writer.submit_event, persist=writer.set_state)
    pipeline = Pipeline(engine, writer, settings.queue_max_batches)
    writer.start()
    core_log = CoreLog()  # as in the daemon: log lines leave the core thread
    core_log.start()
    pipeline.start()
    pool = _batches(channels, 64)
    started = time.perf_counter()
    cpu_started = time.process_time()
    sent = 0
    i = 0
    while sent < total:
        if rate:
            due = started + sent / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elif pipeline.queue_depth + writer.queue_depth > IN_FLIGHT:
            # Back-pressure instead of dropping: we measure throughput. Woken by the next
            # commit, not by polling, so the producer takes no CPU from what it measures.
            committed.wait(0.05)
            committed.clear()
            continue
        pipeline.submit(pool[i % len(pool)])
        sent += BATCH
        i += 1
    pipeline.stop(timeout=120)
    core_log.stop()
    writer.flush(timeout=120)
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    stats = writer.stats
    writer.stop()
    dropped = stats.dropped_readings + pipeline.dropped_readings
    return {
        "readings": stats.committed_readings,
        "dropped": dropped,
        "events": stats.committed_events,
        "elapsed_s": elapsed,
        "readings_per_s": stats.committed_readings / elapsed,
        "readings_per_cpu_s": stats.committed_readings / cpu_s,
        "latencies_ms": latencies_ms,
    }


def _baseline(workdir: Path, total: int, channels: int, commit_rows: int) -> tuple[float, float]:
    """(rows per second, rows per CPU second) of plain single-row ``executemany``."""
    path = workdir / "baseline.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL,"
        " ts INTEGER NOT NULL, value REAL, quality INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX readings_ts ON readings(ts)")
    ts = now_ms()
    rows = [((i % channels) + 1, ts + i // BATCH, float(i % 100), 0) for i in range(commit_rows)]
    started = time.perf_counter()
    cpu_started = time.process_time()
    done = 0
    while done < total:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO readings(channel_id, ts, value, quality) VALUES (?,?,?,?)", rows
        )
        conn.execute("COMMIT")
        done += len(rows)
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    conn.close()
    return done / elapsed, done / cpu_s


PHASES = ("plain SQLite", "saturating", "paced latency")


def run(
    total: int = 1_000_000, channels: int = 200, one_core: bool = True, step: Step = quiet
) -> dict[str, Any]:
    cpu = pin_to_one_core() if one_core else None
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-") as tmp:
        workdir = Path(tmp)
        step(PHASES[0])
        baseline, baseline_cpu = _baseline(workdir, total, channels, StoreSection().commit_max_rows)
        step(PHASES[1])
        saturated = _pipeline_run(workdir, total, channels, rate=None)
        paced_rate = max(1000.0, saturated["readings_per_s"] / 2)
        step(PHASES[2])
        paced = _pipeline_run(workdir, min(total, int(paced_rate * 10)), channels, paced_rate)
    lat = paced["latencies_ms"]
    return {
        "bench": "pipeline",
        "pinned_cpu": cpu,
        "readings": saturated["readings"],
        "dropped": saturated["dropped"] + paced["dropped"],
        "channels": channels,
        "events_stored": saturated["events"],
        "readings_per_s": round(saturated["readings_per_s"]),
        "baseline_readings_per_s": round(baseline),
        "ratio": round(saturated["readings_per_s"] / baseline, 3),
        # The same ratio per CPU second (the process is pinned to one CPU): what the code costs,
        # not what share of a busy machine each phase happened to get.
        "readings_per_cpu_s": round(saturated["readings_per_cpu_s"]),
        "baseline_per_cpu_s": round(baseline_cpu),
        "cpu_ratio": round(saturated["readings_per_cpu_s"] / baseline_cpu, 3),
        "latency_rate_per_s": round(paced_rate),
        "p50_commit_ms": round(median(lat), 2),
        "p99_commit_ms": round(percentile(lat, 99), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
