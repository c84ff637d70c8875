"""``bench alarm-latency``: time from a reading entering the box to the output pin changing.

The daemon's own pipeline, alarm engine, output controller and encrypted store writer run
with a background load of synthetic readings; probe readings then toggle a level-1 alarm that
drives a relay. A MockPin subclass timestamps the actual pin change.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

from box.alarms.engine import AlarmEngine
from box.alarms.outputs import OutputController
from box.bench import Step, quiet
from box.bench.stats import median, peak_rss_mb, percentile
from box.config.loader import parse_config
from box.core.records import Quality, Reading, now_ms
from box.runtime.logs import CoreLog
from box.runtime.pipeline import Pipeline
from box.store.config import StoreSection
from box.store.writer import StoreWriter

PROBE_PIN = 5


class TimedPin(MockPin):
    """Records when its state actually changes (perf_counter_ns) and wakes a waiter."""

    changed = threading.Event()
    last_change_ns = 0

    def _change_state(self, value: bool) -> bool:
        before = self._state
        result = super()._change_state(value)
        if self._state != before and self.info.name == f"GPIO{PROBE_PIN}":
            TimedPin.last_change_ns = time.perf_counter_ns()
            TimedPin.changed.set()
        return result


CONFIG = f"""config_version = 1
[outputs]
pin_factory = "mock"
[[outputs.relays]]
name = "probe"
pin = {PROBE_PIN}
max_level = 1
[[channels]]
id = "probe"
kind = "gas_lel"
unit = "%LEL"
safety = false
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 50, level = 1 }}]
"""


def _background(n: int) -> str:
    return "".join(
        f'[[channels]]\nid = "bg{i}"\nkind = "gas_lel"\nunit = "%LEL"\nsafety = false\n'
        f'[channels.alarms.thresholds]\nlevels = [{{ name = "A1", at = 90 }}]\n'
        for i in range(n)
    )


PHASES = ("background load", "probes")


def run(
    probes: int = 500, background_rate: float = 10_000, channels: int = 100, step: Step = quiet
) -> dict[str, Any]:
    step(PHASES[0])
    config = parse_config(CONFIG + _background(channels))
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-") as tmp:
        writer = StoreWriter(Path(tmp) / "bench.db", os.urandom(32), StoreSection())
        outputs = OutputController(config.outputs, MockFactory(pin_class=TimedPin))
        engine = AlarmEngine(config, writer.submit_event, persist=writer.set_state, outputs=outputs)
        pipeline = Pipeline(engine, writer)
        writer.start()
        core_log = CoreLog()  # as in the daemon: log lines leave the core thread
        core_log.start()
        pipeline.start()
        stop = threading.Event()
        sent = [0]
        loader = threading.Thread(
            target=_load, args=(pipeline, stop, background_rate, channels, sent), daemon=True
        )
        loader.start()
        time.sleep(0.5)  # let the load settle
        step(PHASES[1])
        latencies: list[float] = []
        missed = 0
        started = time.perf_counter()
        for i in range(probes):
            TimedPin.changed.clear()
            value = 60.0 if i % 2 == 0 else 10.0
            entered = time.perf_counter_ns()
            pipeline.submit([Reading("probe", now_ms(), value, Quality.GOOD)])
            if TimedPin.changed.wait(1.0):
                latencies.append((TimedPin.last_change_ns - entered) / 1e6)
            else:
                missed += 1
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        stop.set()
        loader.join(5)
        pipeline.stop()
        core_log.stop()
        writer.stop()
        outputs.close()
    return {
        "bench": "alarm-latency",
        "probes": probes,
        "missed": missed,
        "p50_ms": round(median(latencies), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3) if latencies else None,
        "background_readings_per_s": round(sent[0] / (elapsed + 0.5)),
        "stored_readings": writer.stats.committed_readings,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _load(
    pipeline: Pipeline, stop: threading.Event, rate: float, channels: int, sent: list[int]
) -> None:
    batch_size = max(1, int(rate / 100))  # 100 batches a second, like many devices polling
    interval = batch_size / rate
    next_due = time.perf_counter()
    i = 0
    while not stop.is_set():
        ts = now_ms()
        pipeline.submit(
            [
                Reading(f"bg{(i + j) % channels}", ts, float(j % 40), Quality.GOOD)
                for j in range(batch_size)
            ]
        )
        sent[0] += batch_size
        i += batch_size
        next_due += interval
        delay = next_due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
