"""``safetybox-ingest bench``: sealed rows per second from simulated boxes through a real
mosquitto into a real PostgreSQL, with one worker and with two sharing the subscription.

Both run on this machine (temporary, loopback): the figure is the ingest path's (decrypt,
verify, track, write, commit, acknowledge), with the publisher competing for the same cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from ingest.fleet import Publisher, SimBox, make_fleet, scenario
from ingest.migrations import migrate
from ingest.registry import import_export
from ingest.testbed import TempMosquitto, TempPostgres, free_port

BATCH_ROWS = 200  # rows per readings batch: a box that batches a few seconds of 40 channels


def start_worker(
    dsn: str,
    port: int,
    client_id: str,
    workdir: Path,
    metrics_port: int | None = None,
    group: str = "ingest",
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    argv = [
        sys.executable,
        "-m",
        "ingest",
        "run",
        "--dsn",
        dsn,
        "--port",
        str(port),
        "--client-id",
        client_id,
        "--group",
        group,
        "--no-migrate",
        "--metrics",
        f"127.0.0.1:{metrics_port}" if metrics_port else "off",
    ]
    with (workdir / f"{client_id}.log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_healthy(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"worker on metrics port {port} did not become healthy")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def landed(conn: psycopg.Connection, boxes: list[str]) -> tuple[int, int]:
    """(rows, distinct (box, stream, seq)) stored for these boxes."""
    row = conn.execute(
        "SELECT sum(n), sum(d) FROM ("
        " SELECT count(*) n, count(DISTINCT (box_id, seq)) d FROM readings WHERE box_id = ANY(%s)"
        " UNION ALL SELECT count(*), count(DISTINCT (box_id, seq)) FROM events"
        "  WHERE box_id = ANY(%s)"
        " UNION ALL SELECT count(*), count(DISTINCT (box_id, seq)) FROM records"
        "  WHERE box_id = ANY(%s)) t",
        (boxes, boxes, boxes),
    ).fetchone()
    conn.commit()
    assert row is not None  # noqa: S101
    return int(row[0] or 0), int(row[1] or 0)


def expected_rows(fleet: list[SimBox]) -> int:
    return sum(len(s) for b in fleet for s in b.expected().values())


def one_run(
    dsn: str,
    broker_port: int,
    workdir: Path,
    fleet: list[SimBox],
    ticks: int,
    workers: int,
    timeout: float,
) -> dict[str, Any]:
    start_ms = int(time.time() * 1000) - ticks * 1000
    envelopes = list(scenario(fleet, ticks, BATCH_ROWS, start_ms))
    expected = expected_rows(fleet)
    tag = fleet[0].box_id.split("-")[1]
    procs, ports = [], []
    for w in range(workers):
        ports.append(free_port())
        # A group of its own per run: the broker keeps giving a share of the group's messages
        # to a stopped worker's persistent session (until it returns or its session expires).
        procs.append(
            start_worker(dsn, broker_port, f"bench-{tag}-{w}", workdir, ports[-1], f"bench-{tag}")
        )
    try:
        for mport in ports:
            wait_healthy(mport)
        pub = Publisher("127.0.0.1", broker_port, f"bench-pub-{tag}")
        t0 = time.monotonic()
        published: list[float] = []

        def publish_all() -> None:
            pub.publish(envelopes)
            published.append(time.monotonic())

        th = threading.Thread(target=publish_all)
        th.start()
        boxes = [b.box_id for b in fleet]
        with psycopg.connect(dsn) as conn:
            rows, distinct = 0, 0
            while time.monotonic() - t0 < timeout:
                rows, distinct = landed(conn, boxes)
                if distinct >= expected:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - t0
        th.join(60)
        pub.close()
    finally:
        for p in procs:
            stop(p)
    pub_s = (published[0] - t0) if published else elapsed
    return {
        "rows": expected,
        "envelopes": len(envelopes),
        "seconds": round(elapsed, 3),
        "rows_per_s": round(distinct / elapsed),
        "publish_rows_per_s": round(expected / pub_s),
        "lost": expected - distinct,
        "duplicates": rows - distinct,
    }


def run_bench(
    boxes: int = 200, short: bool = False, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    ticks = 25 if short else 100  # 4 channels: ~100 rows per box per 25 ticks
    keep = os.environ.get("INGEST_BENCH_DIR")  # keep logs there (debugging)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        work = Path(keep or tmp)
        pg = TempPostgres(work / "pg")
        try:
            broker = TempMosquitto(work / "mqtt")
            try:
                migrate(pg.dsn)
                fleets = [
                    make_fleet(boxes, seed=1, prefix="safetybox"),
                    make_fleet(boxes, seed=2, prefix="safetybox"),
                ]
                for i, b in enumerate(fleets[1]):
                    b.box_id = f"sb-second-{i:04d}"
                with psycopg.connect(pg.dsn) as conn:
                    for fl in fleets:
                        for b in fl:
                            import_export(conn, b.export())
                echo(f"bench: {boxes} boxes, {ticks} scans each, one worker")
                one = one_run(pg.dsn, broker.port, work, fleets[0], ticks, 1, 120)
                echo(f"  {one}")
                echo("bench: two workers sharing the subscription")
                two = one_run(pg.dsn, broker.port, work, fleets[1], ticks, 2, 120)
                echo(f"  {two}")
                if keep:
                    from ingest.report import summary

                    with psycopg.connect(pg.dsn) as conn:
                        (work / "report.json").write_text(json.dumps(summary(conn), default=str))
            finally:
                broker.stop()
        finally:
            pg.stop()
    return {
        "boxes": boxes,
        "rows": one["rows"],
        "rows_per_s": one["rows_per_s"],
        "rows_per_s_2_workers": two["rows_per_s"],
        "publish_rows_per_s": min(one["publish_rows_per_s"], two["publish_rows_per_s"]),
        "envelopes": one["envelopes"],
        "duplicates": one["duplicates"] + two["duplicates"],
        "lost": one["lost"] + two["lost"],
    }
