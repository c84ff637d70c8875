"""``bench sync``: drain a backlog of stored readings to a local mosquitto with each cipher,
verified by the reference consumer. Starts its own broker on a free loopback port unless
``--broker HOST:PORT`` is given.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from box.bench import Step, quiet
from box.bench.stats import peak_rss_mb
from box.config.loader import parse_config
from box.core.records import Quality, Reading, now_ms
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.writer import StoreWriter
from box.sync.keyring import SyncKeyring
from box.sync.service import SyncService
from sim.upstream import Consumer, MqttConsumer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 0"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start (is it installed? apt-get install mosquitto)")


def _drain(workdir: Path, host: str, port: int, readings: int, cipher: str) -> dict[str, Any]:
    from box.home import initialise

    bh = BoxHome.under(workdir / f"box-{cipher}")
    initialise(bh)
    config = parse_config(
        f'config_version = 1\n[sync]\nenabled = true\nhost = "{host}"\nport = {port}\n'
        f'cipher = "{cipher}"\n'
        "batch_max_rows = 5000\nbatch_max_age_s = 0.1\n"
        + "".join(
            f'[[channels]]\nid = "c{i}"\nkind = "gas_lel"\nunit = "%LEL"\nsafety = false\n'
            for i in range(100)
        )
    )
    key = FileKeyProvider(bh.keys_dir).get("store")
    writer = StoreWriter(bh.database_file, key, config.store)
    writer.start()
    ts = now_ms() - readings
    for start in range(0, readings, 10_000):
        writer.submit_readings(
            [
                Reading(f"c{i % 100}", ts + i, float(i % 1000) / 10, Quality.GOOD)
                for i in range(start, min(readings, start + 10_000))
            ]
        )
        while writer.queue_depth > 64:
            time.sleep(0.01)
    writer.flush(600)
    ring = SyncKeyring(FileKeyProvider(bh.keys_dir))
    consumer = Consumer(ring.export(bh.read_box_id(), cipher))
    mq = MqttConsumer(consumer, host, port, client_id=f"bench-{cipher}-{os.getpid()}").start()
    service = SyncService(config, bh.read_box_id(), bh.database_file, key, ring, writer)
    started = time.perf_counter()
    service.start()
    try:
        deadline = started + 600
        while time.perf_counter() < deadline:
            st = consumer.streams.get("readings")
            if st is not None and st.covered >= readings:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        service.stop()
        mq.stop()
        writer.stop()
    delivered = consumer.records
    return {
        "drain_s": round(elapsed, 2),
        "delivered": delivered,
        "mb_sent": round(service.sent_bytes / 1e6, 2),
        "batches": service.sent_batches,
        "readings_per_s": round(readings / elapsed),
        "rejected": len(consumer.rejected),
        "duplicates": consumer.duplicates,
    }


PHASES = ("broker", "aes-256-gcm", "sm4-gcm")


def run(readings: int = 1_000_000, broker: str | None = None, step: Step = quiet) -> dict[str, Any]:
    step(PHASES[0])
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-") as tmp:
        workdir = Path(tmp)
        proc = None
        if broker:
            host, _, port_s = broker.rpartition(":")
            port = int(port_s)
        else:
            proc, port = _start_broker(workdir)
            host = "127.0.0.1"
        try:
            step(PHASES[1])
            aes = _drain(workdir, host, port, readings, "aes-256-gcm")
            step(PHASES[2])
            sm4 = _drain(workdir, host, port, readings, "sm4-gcm")
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    return {
        "bench": "sync",
        "readings": readings,
        "delivered": min(aes["delivered"], sm4["delivered"]),
        "aes_drain_s": aes["drain_s"],
        "sm4_drain_s": sm4["drain_s"],
        "aes": aes,
        "sm4": sm4,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
