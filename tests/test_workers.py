"""Heavy drivers in a child process: records back, crashes, hangs, memory, garbage, frames."""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from box.config.loader import parse_config
from box.core.errors import ConfigError
from box.core.records import Quality, Reading
from box.runtime.supervisor import DriverSupervisor
from box.workers.config import ProcessDriverConfig
from box.workers.driver import ProcessDriver
from box.workers.frames import WRITING, FrameRing, new_spec
from drivers.base import DriverRegistry
from tests.conftest import sim_body, wait_for, write_config

CHANNELS = {"level": "w.level", "crc": "w.crc", "skipped": "w.skipped"}


class Sink:
    """Collects what the driver delivers, from its thread."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self._lock = threading.Lock()

    def __call__(self, batch: Any) -> None:
        with self._lock:
            self.readings.extend(batch)

    def on(self, channel: str) -> list[Reading]:
        with self._lock:
            return [r for r in self.readings if r.channel == channel]


class Run:
    """A ProcessDriver under the real DriverSupervisor, with the faults it reported."""

    def __init__(self, worker: str, **cfg: Any) -> None:
        cfg.setdefault("channels", CHANNELS)
        self.config = ProcessDriverConfig(type="process", name="w1", worker=worker, **cfg)
        self.sink = Sink()
        self.faults: list[tuple[str, str, float]] = []
        self.driver = ProcessDriver(self.config, self.sink)
        self.supervisor = DriverSupervisor(self.driver, lambda *f: self.faults.append(f))
        self.pids: list[int] = []

    def start(self) -> Run:
        self.supervisor.start()
        return self

    def wait_faults(self, n: int, timeout: float = 20.0) -> list[tuple[str, str, float]]:
        wait_for(lambda: len(self.faults) >= n, timeout, f"{n} faults")
        return self.faults

    def pid(self) -> int:
        return wait_for(lambda: self.driver.worker_pid, 10, "a worker pid")


@pytest.fixture
def run() -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def make(worker: str, **cfg: Any) -> Run:
        r = Run(f"tests.worker_example:{worker}", **cfg).start()
        runs.append(r)
        return r

    yield make
    for r in runs:
        assert r.supervisor.stop(timeout=10), "the driver thread did not stop"
        assert r.driver.worker_pid is None or not process_exists(r.driver.worker_pid)


def process_exists(pid: int) -> bool:
    """True for a running process and for a zombie (exited, never reaped) alike."""
    return Path(f"/proc/{pid}").exists()


def test_records_reach_the_sink_renamed_to_box_channels(run: Callable[..., Run]) -> None:
    r = run("emit")
    readings = wait_for(lambda: len(got := r.sink.on("w.level")) >= 5 and got, what="readings")
    values = [x.value for x in readings]
    assert values == sorted(values) and values[0] == 1.0
    assert all(x.quality is Quality.GOOD and isinstance(x.value, float) for x in readings)
    assert {x.channel for x in r.sink.readings} == {"w.level"}
    assert r.faults == [] and r.driver.garbage.count == 0
    assert r.pid() != os.getpid()


def test_a_crashing_worker_is_restarted_with_capped_backoff_and_reported(
    run: Callable[..., Run],
) -> None:
    r = run("crash", backoff_start_s=0.1, backoff_max_s=0.25)
    faults = r.wait_faults(3)
    name, error, _ = faults[0]
    assert name == "w1"
    assert "RuntimeError: model exploded" in error and "exit code 1" in error
    assert [f[2] for f in faults[:3]] == [0.1, 0.2, 0.25], "doubling, capped at backoff_max_s"
    assert r.driver.starts >= 3
    assert len(r.sink.on("w.level")) >= 6, "what the worker sent before crashing arrived"


@pytest.mark.parametrize(
    ("worker", "how"),
    [("exit_hard", "exit code 3"), ("sigkill", "killed by SIGKILL"), ("segfault", "SIGSEGV")],
)
def test_a_worker_that_dies_hard_is_reported_and_restarted(
    run: Callable[..., Run], worker: str, how: str
) -> None:
    r = run(worker, backoff_start_s=0.05)
    first = r.pid()
    _, error, _ = r.wait_faults(1)[0]
    assert error.startswith("WorkerFailed: worker ended: ") and how in error
    wait_for(lambda: r.driver.worker_pid not in (None, first), what="a new worker")
    assert not process_exists(first), "the dead child was reaped"


def test_a_silent_worker_is_killed_and_restarted(run: Callable[..., Run]) -> None:
    r = run("hang", heartbeat_timeout_s=0.5, backoff_start_s=0.05)
    first = r.pid()
    wait_for(lambda: r.sink.on("w.level"), what="the first reading")
    _, error, _ = r.wait_faults(1)[0]
    assert "worker silent for 0.5 s: killed" in error
    assert not process_exists(first)
    wait_for(lambda: r.driver.worker_pid not in (None, first), what="a new worker")


def test_memory_limit_ends_the_child_not_the_parent(run: Callable[..., Run]) -> None:
    r = run("hog", memory_limit_mb=300, options={"mb": 600}, backoff_start_s=5)
    _, error, _ = r.wait_faults(1)[0]
    assert "MemoryError" in error and "exit code 1" in error
    assert r.sink.on("w.level") == [], "the child never got its 600 MB"
    assert r.supervisor.is_alive() and r.supervisor.state == "backoff"


def test_resident_memory_limit_kills_the_child(run: Callable[..., Run]) -> None:
    r = run("hog", max_rss_mb=120, options={"mb": 400}, backoff_start_s=5)
    _, error, _ = r.wait_faults(1)[0]
    assert "resident memory" in error and "> max_rss_mb 120: killed" in error
    assert not process_exists(r.pid())


def test_garbage_is_counted_logged_and_never_delivered(
    run: Callable[..., Run], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "exploited"
    r = run("garbage", options={"marker": str(marker)})
    wait_for(lambda: any(x.value == 99.0 for x in r.sink.on("w.level")), what="the marker")
    assert [x.value for x in r.sink.readings] == [1.0, 99.0]
    assert r.driver.garbage.count == 10
    assert not marker.exists(), "the parent constructed no class it does not allow"
    logged = caplog.text
    for what in (
        "str is not a record type",
        "channel 'unmapped' is not in the driver's channels",
        "ts_ms 'yesterday' is not a positive int",
        "value nan is not a finite number",
        "Quality is not a record type",
        "records payload is str",
        "undecodable message",
        "class tests.worker_example.Exotic is not an allowed record type",
        "class posix.system is not an allowed record type",
        "not a protocol message",
    ):
        assert what in logged
    assert r.faults == [], "garbage does not end the worker"


def test_frame_ring_detects_overwritten_and_torn_slots() -> None:
    spec = new_spec("t", slots=3, shape=(4, 4, 1), dtype="uint8")
    ring = FrameRing.create(spec)
    try:
        refs = [ring.write(bytes([i]) * 16) for i in range(4)]
        assert ring.read(*refs[0]) is None, "slot reused by the fourth frame"
        assert [ring.read(*ref) for ref in refs[1:]] == [bytes([i]) * 16 for i in (1, 2, 3)]
        reader = FrameRing.attach(spec)  # another mapping of the same memory, as in the child
        assert reader.read(*refs[3]) == bytes([3]) * 16
        slot, generation = refs[3]
        ring._shm.buf[slot * spec.stride : slot * spec.stride + 8] = WRITING.to_bytes(8, "little")
        assert reader.read(slot, generation) is None, "a write in progress is not read"
        assert reader.read(99, 1) is None and reader.read(0, 0) is None
        reader.close()
        with pytest.raises(ValueError, match="frame has 15 bytes"):
            ring.write(bytes(15))
    finally:
        ring.close()
    assert not Path("/dev/shm", spec.name).exists()


def test_camera_frames_arrive_intact_through_shared_memory(run: Callable[..., Run]) -> None:
    np = pytest.importorskip("numpy")
    frames_cfg = {"slots": 2, "width": 640, "height": 480}
    r = run("frames", frames=frames_cfg, options={"delay_s": 1.0})
    wait_for(lambda: r.sink.on("w.skipped"), what="the worker ready")
    rng = np.random.default_rng(7)
    sent = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    # Five at once while the worker sleeps: with two slots, the first three are overwritten.
    assert all(r.driver.send_frame(f) for f in sent[:5])
    wait_for(lambda: len(r.sink.on("w.crc")) == 2, what="the two frames not overwritten")
    for i, frame in enumerate(sent[5:], start=3):  # then one at a time: none lost
        assert r.driver.send_frame(frame)
        wait_for(lambda i=i: len(r.sink.on("w.crc")) == i, what=f"frame {i}")
    crcs = [x.value for x in r.sink.on("w.crc")]
    assert crcs == [float(zlib.crc32(f.tobytes())) for f in sent[3:]]
    assert r.sink.on("w.skipped")[-1].value == 3.0


def test_stop_is_bounded_and_leaves_no_child_and_no_shared_memory(
    run: Callable[..., Run],
) -> None:
    r = run("hang", heartbeat_timeout_s=60, frames={"width": 64, "height": 48})
    pid = r.pid()
    ring = r.driver._ring
    assert ring is not None and Path("/dev/shm", ring.spec.name).exists()
    wait_for(lambda: r.sink.on("w.level"), what="the worker running")
    started = time.monotonic()
    assert r.supervisor.stop(timeout=10)
    assert time.monotonic() - started < 5, "ask, SIGTERM, SIGKILL are each bounded"
    assert r.driver.last_exit == "killed by SIGTERM", "it ignored the request to stop"
    assert not process_exists(pid)
    assert not Path("/dev/shm", ring.spec.name).exists()
    assert r.driver.send_frame(bytes(64 * 48 * 3)) is False, "no worker, frame dropped"


def test_stop_asks_a_healthy_worker_first(run: Callable[..., Run]) -> None:
    r = run("emit", stop_grace_s=2)
    pid = r.pid()
    wait_for(lambda: r.sink.on("w.level"), what="readings")
    started = time.monotonic()
    assert r.supervisor.stop(timeout=10)
    assert time.monotonic() - started < 1.9, "the worker left on its own, within the grace"
    assert r.driver.last_exit == "exit code 0"
    assert not process_exists(pid)


def registry() -> DriverRegistry:
    reg = DriverRegistry.from_entry_points()
    reg.register(ProcessDriver)
    return reg


PROCESS_BODY = """
[[channels]]
id = "w.level"
kind = "other"
unit = "x"
[channels.alarms]
stale_after_s = 1

[[drivers]]
type = "process"
name = "vision"
worker = "{worker}"
backoff_start_s = 1.5
channels = {{ level = "w.level" }}
"""


def test_config_checks_worker_path_channels_and_backoff() -> None:
    reg = registry()
    head = 'config_version = 1\n[[channels]]\nid = "t1.lel"\nkind = "gas_lel"\nunit = "%LEL"\n'
    cfg = parse_config(head + PROCESS_BODY.format(worker="tests.worker_example:emit"), registry=reg)
    (drv,) = cfg.drivers
    assert isinstance(drv, ProcessDriverConfig) and drv.channel_ids() == ["w.level"]
    for bad, needle in (
        (PROCESS_BODY.format(worker="tests/worker_example.py"), "worker"),
        (PROCESS_BODY.format(worker="m:f").replace('"w.level" }', '"nope" }'), "nope"),
        (PROCESS_BODY.format(worker="m:f") + "backoff_max_s = 1\n", "backoff_max_s"),
    ):
        with pytest.raises(ConfigError, match=needle):
            parse_config(head + bad, registry=reg)


def test_in_the_daemon_a_crashing_worker_is_a_fault_and_sim_alarms_still_work(
    home: Path,
) -> None:
    from box.paths import BoxHome
    from box.runtime.daemon import Daemon
    from tests.test_daemon import events

    write_config(home, sim_body() + PROCESS_BODY.format(worker="tests.worker_example:crash"))
    d = Daemon(BoxHome.under(home), registry=registry())
    d.start()
    try:
        wait_for(lambda: d.supervisors[1].restarts >= 1, what="the worker's first fault")

        def raised() -> set[str]:
            d.writer.flush()
            return {e["alarm"] for e in events(home, "alarm_raised")}

        wait_for(lambda: {"t1.lel:A1", "w.level:fault"} <= raised(), what="both alarms")
        faults = events(home, "fault")
        assert faults[0]["source"] == "driver:vision"
        assert "RuntimeError: model exploded" in faults[0]["error"]
        assert faults[0]["restart_in_s"] == 1.5
        assert d.supervisors[0].state == "running" and d.supervisors[0].restarts == 0
        assert d.pipeline.is_alive()
        stale = next(a for a in d.engine.views if a["id"] == "w.level:fault")
        assert stale["kind"] == "fault" and stale["condition"], json.dumps(stale, default=str)
    finally:
        d.stop()
    assert not process_exists(d.supervisors[1].driver.worker_pid)
