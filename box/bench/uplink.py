"""``bench uplink``: Modbus TCP simulator -> the daemon (a subprocess, stock sync and store
settings) -> a real mosquitto on loopback -> a consumer that opens every envelope.

The simulator serves 32 units of 8 points; point ``tick`` holds the wall-clock milliseconds
(mod 65536) at which the unit was read and ``count`` a per-unit poll counter, so the consumer
knows when each reading was taken and which polls never arrived, whatever the daemon's own
timestamps say. Phases: steady polls at 100 ms; a broker outage (time to data once it is back);
the drain of what was stored meanwhile; then faster polls, if the driver allows them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from box.bench import Step, quiet
from box.bench.stats import percentile
from box.paths import BoxHome
from drivers.modbus.profiles import Profile
from sim.modbus_slave import DeviceSim, Slave, TcpSlave
from sim.upstream import Consumer, MqttConsumer

UNITS = 32
VALUES = 6  # value points per unit, plus tick and count: 8 points, 8 registers
PROFILE = "uplink-bench"
PROFILE_TOML = (
    f'name = "{PROFILE}"\ndescription = "bench: 6 values, read tick (ms mod 65536), poll count"\n'
    + "".join(
        f'[[points]]\nname = "v{i}"\naddress = {i}\ntype = "uint16"\nscale = 0.1\n'
        for i in range(VALUES)
    )
    + f'[[points]]\nname = "tick"\naddress = {VALUES}\ntype = "uint16"\n'
    + f'[[points]]\nname = "count"\naddress = {VALUES + 1}\ntype = "uint16"\n'
)
# Seconds of warm-up, of the 100 ms window and of each faster trial: (short run, full run).
TIMING = {True: (1.0, 3.0, 3.0), False: (3.0, 20.0, 10.0)}
FAST_POLLS_S = (0.05, 0.02)  # tried after 0.1 s when the driver accepts them, fastest last
LOSS_FREE_SHARE = 0.95  # a poll rate counts as achieved when 95 % of its polls were made


class TickDevice(DeviceSim):
    """A unit whose ``tick`` register reads the time of the read and ``count`` the polls."""

    def __init__(self, profile: Profile, unit: int) -> None:
        super().__init__(profile, unit, base=20.0 + unit)
        self.polls = 0

    def read(self, address: int, count: int) -> list[int] | None:
        self.update()
        self.polls += 1
        self.registers[VALUES] = int(time.time() * 1000) & 0xFFFF
        self.registers[VALUES + 1] = self.polls & 0xFFFF
        return [self.registers.get(a, 0) for a in range(address, address + count)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """mosquitto with persistence (the consumer's session outlives a restart), one port."""

    def __init__(self, workdir: Path) -> None:
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = _free_port()
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {workdir}/",
            "max_queued_messages 0",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and return the monotonic time it accepted its first connection."""
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return time.monotonic()
            except OSError:
                time.sleep(0.005)
        self.stop()
        raise RuntimeError("mosquitto did not start (is it installed? apt-get install mosquitto)")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Arrival:
    """What the consumer saw of live readings, stamped when their envelope arrived."""

    at: float  # monotonic
    count: int  # readings in the envelope
    latencies_ms: list[float]  # read tick -> arrival, one per unit read in the envelope


@dataclass
class Measure:
    arrivals: list[Arrival] = field(default_factory=list)
    counts: dict[str, dict[int, int]] = field(default_factory=dict)  # unit -> seq -> count
    lock: threading.Lock = field(default_factory=threading.Lock)


class TimedConsumer(Consumer):
    """The reference consumer, noting when each envelope's new readings arrived."""

    def __init__(self, provisioning: dict[str, Any], measure: Measure) -> None:
        super().__init__(provisioning)
        self.measure = measure

    def handle(self, data: bytes) -> list[dict[str, Any]]:
        at = time.monotonic()
        now_ms = int(time.time() * 1000)
        recs = super().handle(data)
        readings = [r for r in recs if r.get("stream") == "readings" and "seq" in r]
        if not readings:
            return recs
        lat: list[float] = []
        m = self.measure
        with m.lock:
            for r in readings:
                unit, _, point = r["channel"].partition(".")
                if r["value"] is None:
                    continue
                if point == "tick" and not r["historical"]:
                    # The read happened at most 65 s ago: unwrap the 16-bit millisecond tick.
                    lat.append(float((now_ms - int(r["value"])) & 0xFFFF))
                elif point == "count":
                    m.counts.setdefault(unit, {})[r["seq"]] = int(r["value"])
            m.arrivals.append(Arrival(at, len(readings), lat))
        return recs


def _config(broker_port: int, web_port: int, sim_port: int, interval_s: float) -> str:
    """Stock settings: only what the bench needs (the broker, the web port, the devices)."""
    lines = [
        "config_version = 1",
        f'[web]\nlisten = ["127.0.0.1:{web_port}"]',
        f"[sync]\nenabled = true\nport = {broker_port}",
    ]
    points = [f"v{i}" for i in range(VALUES)] + ["tick", "count"]
    for u in range(1, UNITS + 1):
        for p in points:
            lines.append(f'[[channels]]\nid = "u{u}.{p}"\nkind = "other"\nunit = "x"')
            lines.append("safety = false")
    lines.append(
        f'[[drivers]]\ntype = "modbus"\nname = "bench"\nhost = "127.0.0.1"\ntcp_port = {sim_port}'
    )
    for u in range(1, UNITS + 1):
        chans = ", ".join(f'{p} = "u{u}.{p}"' for p in points)
        lines.append(
            f'[[drivers.devices]]\nunit = {u}\nprofile = "{PROFILE}"\ninterval_s = {interval_s}\n'
            f"channels = {{ {chans} }}"
        )
    return "\n".join(lines) + "\n"


class Daemon:
    def __init__(self, home: Path) -> None:
        self.log = (home / "daemon.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "box", "--home", str(home), "run"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def pids(self) -> list[int]:
        """The daemon and its child processes (drivers may run in children)."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                    todo.extend(int(c) for c in text.split())
            except OSError:
                continue
        return out

    def cpu_s(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def rss_mib(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def _wait(predicate: Any, timeout: float, what: str, daemon: Daemon | None = None) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        if daemon is not None and not daemon.alive():
            raise RuntimeError(f"the daemon exited while waiting for {what}")
        time.sleep(0.005)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _window(m: Measure, start: float, end: float) -> dict[str, Any]:
    with m.lock:
        inside = [a for a in m.arrivals if start <= a.at < end]
    lat = [x for a in inside for x in a.latencies_ms]
    return {
        "datapoints": sum(a.count for a in inside),
        "envelopes": len(inside),
        "p50_ms": round(percentile(lat, 50), 1) if lat else None,
        "p99_ms": round(percentile(lat, 99), 1) if lat else None,
    }


def _polls(m: Measure) -> tuple[int, int]:
    """Polls lost (a counter value that never arrived between the first and last that did)
    and polls delivered, over every unit and the whole run."""
    lost = delivered = 0
    with m.lock:
        per_unit = {u: dict(c) for u, c in m.counts.items()}
    for counts in per_unit.values():
        values, offset, prev = [], 0, None
        for seq in sorted(counts):
            v = counts[seq]
            if prev is not None and v < prev - 0x8000:
                offset += 0x10000  # the 16-bit counter wrapped
            prev = v
            values.append(v + offset)
        seen = set(values)
        delivered += len(seen)
        lost += max(values) - min(values) + 1 - len(seen)
    return lost, delivered


class Run:
    def __init__(self, workdir: Path, step: Step) -> None:
        from box.home import initialise
        from box.keys import FileKeyProvider
        from box.sync.keyring import SyncKeyring

        self.step = step
        self.home = workdir / "box"
        self.bh = BoxHome.under(self.home)
        initialise(self.bh)
        self.bh.profiles_dir.mkdir(exist_ok=True)
        (self.bh.profiles_dir / f"{PROFILE}.toml").write_text(PROFILE_TOML)
        profile = Profile.model_validate(_profile_dict())
        self.slave = TcpSlave(Slave([TickDevice(profile, u) for u in range(1, UNITS + 1)]))
        self.broker = Broker(workdir)
        self.web_port = _free_port()
        self.measure = Measure()
        ring = SyncKeyring(FileKeyProvider(self.bh.keys_dir))
        self.consumer = TimedConsumer(
            ring.export(self.bh.read_box_id(), "aes-256-gcm"), self.measure
        )
        self.mqtt: MqttConsumer | None = None
        self.daemon: Daemon | None = None

    def __enter__(self) -> Run:
        self.slave.start()
        self.broker.start()
        self.mqtt = MqttConsumer(
            self.consumer, "127.0.0.1", self.broker.port, client_id=f"bench-{os.getpid()}"
        )
        # Back at once after the outage, so the figure is the box's reconnect, not ours.
        self.mqtt.client.reconnect_delay_set(0.02, 0.05)  # type: ignore[arg-type]
        self.mqtt.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        self.broker.stop()
        self.slave.stop()

    def accepts(self, interval_s: float) -> bool:
        """Whether this box's config validates with polls every ``interval_s`` (the Modbus
        driver's poll floor), so the daemon never falls back to another config unseen."""
        from box.config.loader import ConfigInvalid, context_for, parse_config

        text = _config(self.broker.port, self.web_port, self.slave.port, interval_s)
        try:
            parse_config(text, context=context_for(self.bh.config_file))
        except ConfigInvalid:
            return False
        return True

    def poll_floor_s(self) -> float:
        """The fastest of the bench's polls the driver accepts (0.1 s until it is lifted)."""
        return min([p for p in FAST_POLLS_S if self.accepts(p)], default=0.1)

    def start_daemon(self, interval_s: float) -> Daemon:
        if self.daemon is not None:
            self.daemon.stop()
        self.bh.config_file.write_text(
            _config(self.broker.port, self.web_port, self.slave.port, interval_s)
        )
        before = len(self.measure.arrivals)
        self.daemon = Daemon(self.home)
        _wait(lambda: len(self.measure.arrivals) > before + 5, 60, "data", self.daemon)
        return self.daemon

    def steady(self, interval_s: float, warmup_s: float, seconds: float) -> dict[str, Any]:
        daemon = self.start_daemon(interval_s)
        time.sleep(warmup_s)
        start, cpu0 = time.monotonic(), daemon.cpu_s()
        time.sleep(seconds)
        end, cpu1 = time.monotonic(), daemon.cpu_s()
        w = _window(self.measure, start, end)
        elapsed = end - start
        expected = UNITS * (VALUES + 2) * elapsed / interval_s
        return {
            "poll_s": interval_s,
            "datapoints_per_s": round(w["datapoints"] / elapsed),
            "achieved": round(w["datapoints"] / expected, 3),
            "envelopes_per_s": round(w["envelopes"] / elapsed, 1),
            "p50_ms": w["p50_ms"],
            "p99_ms": w["p99_ms"],
            "cpu_ms_per_dp": round((cpu1 - cpu0) * 1000 / max(1, w["datapoints"]), 4),
            "cpu_percent": round((cpu1 - cpu0) / elapsed * 100, 1),
            "rss_mib": round(daemon.rss_mib(), 1),
        }

    def outage(self, seconds: float) -> float:
        """Stop the broker for ``seconds``; the time from its return to new data arriving."""
        assert self.daemon is not None  # noqa: S101
        self.broker.stop()
        time.sleep(seconds)
        up = self.broker.start()
        got = _wait(
            lambda: any(a.at > up for a in self.measure.arrivals[-50:]),
            60,
            "data after the outage",
            self.daemon,
        )
        return got - up

    def drain(self, timeout: float) -> None:
        """Wait until the readings stream has no holes (the backfill of the outage is in) and
        the newest envelope is live: a backfill batch that happens to go first after the
        outage leaves no hole yet, the live one after it does."""

        def done() -> bool:
            st = self.consumer.streams.get("readings")
            with self.measure.lock:
                last = self.measure.arrivals[-1] if self.measure.arrivals else None
            live = last is not None and bool(last.latencies_ms)  # its ticks are live ones
            return st is not None and not st.holes and live

        _wait(done, timeout, "the backfill after the outage", self.daemon)


def _profile_dict() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(PROFILE_TOML)


PHASES = ("start", "100 ms polls", "broker outage", "drain", "fastest polls")


def run(short: bool = False, outage_s: float | None = None, step: Step = quiet) -> dict[str, Any]:
    """``short``: a ~15 s run for tests (shape and loss, not timings); ``outage_s``: how long
    the broker is away (default 20 s, 2 s in a short run)."""
    warmup_s, steady_s, trial_s = TIMING[short]
    if outage_s is None:
        outage_s = 2.0 if short else 20.0
    step(PHASES[0])
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-") as tmp, Run(Path(tmp), step) as r:
        floor = r.poll_floor_s()
        step(PHASES[1])
        base = r.steady(0.1, warmup_s, steady_s)
        step(PHASES[2])
        reconnect_s = r.outage(outage_s)
        step(PHASES[3])
        r.drain(60 if short else 180)
        fastest: dict[str, Any] | None = None
        step(PHASES[4])
        if short:
            fastest_note = "faster polls are not tried in a short run"
        elif floor >= 0.1:
            fastest_note = "the Modbus driver accepts no poll faster than 0.1 s"
        else:
            fastest_note = "no poll faster than 0.1 s was loss-free"
        if not short:
            for interval in sorted((p for p in FAST_POLLS_S if p >= floor), reverse=True):
                lost_before = _polls(r.measure)[0]
                trial = r.steady(interval, warmup_s, trial_s)
                if _polls(r.measure)[0] > lost_before or trial["achieved"] < LOSS_FREE_SHARE:
                    break
                fastest = trial
                fastest_note = f"fastest loss-free poll tried: {interval} s"
        time.sleep(0.5)  # the last envelopes of the run
        lost, polls = _polls(r.measure)
        st = r.consumer.streams.get("readings")
        # An envelope the broker delivers twice (QoS 1 redelivery to the consumer's session
        # after the restart) is refused by nonce: counted apart from real rejections.
        replays = [x for x in r.consumer.rejected if x.startswith("replayed")]
        rejected = [x for x in r.consumer.rejected if not x.startswith("replayed")]
        duplicates = r.consumer.duplicates
    result: dict[str, Any] = {
        "bench": "uplink",
        "short": short,
        "units": UNITS,
        "points_per_unit": VALUES + 2,
        "poll_s": 0.1,
        "datapoints_per_s": base["datapoints_per_s"],
        "achieved": base["achieved"],
        "envelopes_per_s": base["envelopes_per_s"],
        "polls_lost": lost,
        "polls_delivered": polls,
        "p50_ms": base["p50_ms"],
        "p99_ms": base["p99_ms"],
        "cpu_ms_per_dp": base["cpu_ms_per_dp"],
        "cpu_percent": base["cpu_percent"],
        "rss_mib": base["rss_mib"],
        "outage_s": outage_s,
        "reconnect_s": round(reconnect_s, 2),
        "poll_floor_s": floor,
        "fastest": fastest,
        "fastest_note": fastest_note,
        "rejected": len(rejected),
        "rejected_why": sorted(set(rejected))[:3],
        "redelivered": len(replays),
        "duplicates": duplicates,
        "holes": len(st.holes) if st else None,
    }
    return result


if __name__ == "__main__":  # pragma: no cover - handy while tuning
    print(json.dumps(run(short="--short" in sys.argv)))
