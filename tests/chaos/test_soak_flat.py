"""Soak: the box as a real process with every simulator at once, accelerated (sensors polled
every 10-20 ms, a gas channel that crosses both alarm levels every few seconds, a scripted
operator acknowledging, Modbus over a pseudo-terminal and over TCP with line faults, the uplink
to a real broker with a consumer, the status API polled like a page). Its RSS, open file
descriptors and threads are sampled once a second; after a warm-up the slopes are reported
and must be flat.

``SOAK_S`` sets the length (default 30 s in the normal suite; ``make soak`` runs 3,600)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.modbus.profiles import shipped
from sim.modbus_slave import DeviceSim, Faults, PtySlave, Slave, TcpSlave
from sim.upstream import Consumer, MqttConsumer
from tests.broker import Broker
from tests.conftest import REPO, get_json, run_cli, wait_for, write_config

pytestmark = pytest.mark.slow

SOAK_S = float(os.environ.get("SOAK_S", "30"))
WARMUP_FRACTION = 0.3
REPORT = os.environ.get("SOAK_REPORT")  # a file for the figures (make soak writes one)

BODY = """
[sync]
enabled = true
port = {broker}
batch_max_rows = 500
batch_max_age_s = 0.5

[store]
commit_interval_ms = 20

[outputs]
pin_factory = "mock"
buzzer = {{ pin = 17 }}
tower = {{ red = {{ pin = 22 }}, yellow = {{ pin = 23 }}, green = {{ pin = 24 }} }}
[[outputs.relays]]
name = "valve"
pin = 5
fail_safe = true
max_level = 1

[[channels]]
id = "t1.lel"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 2 }}, {{ name = "A2", at = 50, level = 1 }}]
deadband = 2.0

[[channels]]
id = "t1.temp"
kind = "temperature"
unit = "°C"
safety = false

[[channels]]
id = "rtu.lel"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 2 }}]

[[channels]]
id = "tcp.lel"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 2 }}]

[[drivers]]
type = "sim"
name = "sim1"
interval_s = 0.01
[[drivers.points]]
channel = "t1.lel"
waveform = {{ shape = "sine", mean = 30.0, amplitude = 26.0, period_s = 6 }}
[[drivers.points]]
channel = "t1.temp"
waveform = {{ shape = "sine", mean = 20.0, amplitude = 5.0, period_s = 10 }}

[[drivers]]
type = "modbus"
name = "rtu"
port = "{pty}"
baudrate = 115200
timeout_s = 0.1
retries = 0
[[drivers.devices]]
unit = 3
profile = "generic-gas-probe"
interval_s = 0.02
channels = {{ concentration = "rtu.lel" }}

[[drivers]]
type = "modbus"
name = "tcp"
host = "127.0.0.1"
tcp_port = {tcp}
timeout_s = 0.2
retries = 0
[[drivers.devices]]
unit = 1
profile = "generic-gas-probe"
interval_s = 0.02
channels = {{ concentration = "tcp.lel" }}
"""


def sample(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, open fds, threads) of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    rss_mib = int(fields["VmRSS"].split()[0]) / 1024
    return rss_mib, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def slope_per_min(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return (
        0.0
        if var == 0
        else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 60
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


def test_soak_memory_fds_and_threads_stay_flat(
    tmp_path: Path, home: Path, broker: Broker, daemon_factory
) -> None:  # noqa: ANN001
    profile = shipped()["generic-gas-probe"]
    rtu = PtySlave(Slave([DeviceSim(profile, 3, base=5.0)], Faults(stray_bytes=0.02))).start()
    tcp = TcpSlave(
        Slave([DeviceSim(profile, 1, scenario="steady", base=6.0)], Faults(no_answer=0.02))
    ).start()
    link = tmp_path / "ttyRS485"
    os.symlink(rtu.path, link)
    write_config(home, BODY.format(broker=broker.port, pty=link, tcp=tcp.port))
    prov = json.loads(run_cli(home, "keys", "export").output)
    consumer = Consumer(prov)
    mq = MqttConsumer(consumer, "127.0.0.1", broker.port, client_id="soak-oracle").start()
    operator: subprocess.Popen[bytes] | None = None
    try:
        d = daemon_factory(home)
        d.wait_ready(30)
        operator = subprocess.Popen(
            [sys.executable, "-m", "box", "--home", str(home), "sim", "operator",
             "--ack-after", "1", "--stop-after", str(int(SOAK_S) + 60)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )  # fmt: skip
        start = time.monotonic()
        times: list[float] = []
        rss: list[float] = []
        fds: list[int] = []
        threads: list[int] = []
        while (elapsed := time.monotonic() - start) < SOAK_S:
            assert d.proc.poll() is None, d.output()[-2000:]
            for _ in range(5):  # the page polls status a few times a second
                get_json(d.url + "/api/status", timeout=10)
            r, f, t = sample(d.proc.pid)
            times.append(elapsed)
            rss.append(r)
            fds.append(f)
            threads.append(t)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - start - elapsed)))
        status = d.status()
        warm = int(len(times) * WARMUP_FRACTION)
        xs, r_after = times[warm:], rss[warm:]
        figures = {
            "seconds": round(SOAK_S),
            "samples": len(times),
            "readings": status["store"]["committed_readings"],
            "delivered": consumer.streams["readings"].covered
            if "readings" in consumer.streams
            else 0,
            "rss_mib": {"start": round(rss[warm], 1), "end": round(rss[-1], 1),
                        "max": round(max(r_after), 1)},
            "rss_slope_mib_per_min": round(slope_per_min(xs, r_after), 3),
            "fds": {"min": min(fds[warm:]), "max": max(fds[warm:])},
            "fd_slope_per_min": round(slope_per_min(xs, [float(v) for v in fds[warm:]]), 3),
            "threads": {"min": min(threads[warm:]), "max": max(threads[warm:])},
            "thread_slope_per_min": round(
                slope_per_min(xs, [float(v) for v in threads[warm:]]), 3
            ),
        }  # fmt: skip
        print("soak:", json.dumps(figures))
        if REPORT:
            Path(REPORT).write_text(json.dumps(figures, indent=2) + "\n")
        assert figures["readings"] > SOAK_S * 100, "the box kept ingesting"
        assert max(r_after) - r_after[0] < 8 + SOAK_S / 3600 * 8, "RSS grows (MiB)"
        assert max(fds[warm:]) - min(fds[warm:]) <= 4, "open fds are not flat"
        assert max(threads[warm:]) - min(threads[warm:]) <= 3, "threads are not flat"
        assert get_json(d.url + "/api/health")["ok"], "healthy at the end"
        wait_for(
            lambda: (
                consumer.streams.get("readings")
                and consumer.streams["readings"].covered
                >= status["store"]["committed_readings"] // 2
            ),
            timeout=60,
            what="the uplink keeps up",
        )
        assert consumer.rejected == []
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(10)
        mq.stop()
        link.unlink(missing_ok=True)
        tcp.stop()
        rtu.stop()
