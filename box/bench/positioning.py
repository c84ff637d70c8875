"""``bench positioning``: tag updates through the whole chain, as in the running box.

DWM1001 shell lines (one decoder per tag, the UART's chunks) are parsed, transformed to site
coordinates by the driver's transform, handed to the real pipeline thread, tested against the
zones and run through the positioning rules there, thinned and committed to an encrypted store
by the writer thread. Two phases: saturating (updates/s until everything is processed), then
paced at 500 tags x 10 Hz with probe tags stepping into a restricted zone, for the latency
from the line's arrival to the alarm event (the moment the engine drives the outputs).
"""

from __future__ import annotations

import gc
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from box.alarms.engine import AlarmEngine
from box.bench import Step, quiet
from box.bench.stats import median, peak_rss_mb, percentile, pin_to_one_core
from box.config.schema import BoxConfigBase, StoreSection, build_config_model
from box.core.records import Event, Position
from box.runtime.logs import CoreLog
from box.runtime.pipeline import Pipeline
from box.store.writer import StoreWriter
from drivers.base import default_registry
from drivers.uwb.base import UwbDriver
from drivers.uwb.dwm1001 import Dwm1001Config
from drivers.uwb.shell import ShellDecoder

PHASES = ("saturating", "paced latency")
COLS, CELL, SIZE = 20, 12.0, 8.0  # zones on a grid: 8 m squares every 12 m
BATCH = 500


def _zones(n: int) -> list[dict[str, Any]]:
    zones = []
    for i in range(n):
        cx, cy = (i % COLS) * CELL, (i // COLS) * CELL
        kind = ("restricted", "danger", "area", "confined_space")[i % 4]
        zone: dict[str, Any] = {
            "id": f"z{i}",
            "type": kind,
            "polygon": [[cx, cy], [cx + SIZE, cy], [cx + SIZE, cy + SIZE], [cx, cy + SIZE]],
        }
        if kind == "danger":
            zone["approach_m"] = 1.5
        if kind == "confined_space":
            zone["max_stay_s"] = 600
        if i % 10 == 0:
            zone["max_people"] = 5
        zones.append(zone)
    return zones


def _config(tags: int, zones: int, probes: int) -> BoxConfigBase:
    # Workers are authorised where they walk (a site's normal day: few alarms), except in z0,
    # a restricted zone that only the probes step into.
    every = [f"z{j}" for j in range(1, zones)]
    people = [{"tag": f"t{i}", "name": f"worker {i}", "zones": every} for i in range(tags)]
    people += [{"tag": f"probe{i}", "name": f"probe {i}"} for i in range(probes)]
    plan = {"id": "bench", "zones": _zones(zones), "people": people, "min_dwell_s": 0}
    model = build_config_model(default_registry())
    return model.model_validate({"positioning": [plan]})


def _lines(tags: int, rows: int, steps: int) -> list[list[bytes]]:
    """Per step, one chunk of `lep` lines per tag: tags walk across the zone grid at walking
    pace (1.4 m/s at 10 Hz: 0.14 m per update), clear of z0."""
    width, height = COLS * CELL, rows * CELL
    out = []
    for s in range(steps):
        step = []
        for i in range(tags):
            x = CELL + (i * 7.3 + s * 0.12) % (width - CELL)
            y = (i * 3.1 + s * 0.07) % height
            step.append(f"POS,{x:.2f},{y:.2f},1.00,80\r\n".encode())
        out.append(step)
    return out


class _Chain:
    """Parsing and transform, as the drivers do them; the rest in the real pipeline."""

    def __init__(self, tags: int, submit: Any) -> None:
        self.decoders = [ShellDecoder(f"t{i}") for i in range(tags)]
        cfg = Dwm1001Config(name="bench", port="loop://", tag="t0")
        self.driver = UwbDriver(cfg, submit)

    def feed(self, chunks: list[bytes], ts_ms: int, lo: int = 0) -> None:
        """The chunks of tags ``lo``, ``lo + 1``, ... in one batch."""
        decoders = self.decoders[lo : lo + len(chunks)]
        fixes = [f for d, c in zip(decoders, chunks, strict=True) for f in d.feed(c)]
        self.driver.sink(self.driver.positions(fixes, ts_ms))


def _run(workdir: Path, tags: int, zones: int, updates: int, rate: float | None) -> dict[str, Any]:
    probes = 4
    config = _config(tags, zones, probes)
    settings = StoreSection(queue_max_batches=4096)
    writer = StoreWriter(workdir / f"pos-{'paced' if rate else 'max'}.db", os.urandom(32), settings)
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    lock = threading.Lock()

    def on_event(e: Event) -> None:
        if e.kind == "alarm_raised" and e.source.startswith("person:probe"):
            done = time.perf_counter()
            with lock:
                began = sent_at.pop(e.source.removeprefix("person:"), None)
                if began is not None:
                    latencies.append((done - began) * 1000)
        writer.submit_event(e)

    engine = AlarmEngine(config, on_event, persist=writer.set_state)
    pipeline = Pipeline(engine, writer, settings.queue_max_batches)
    writer.start()
    core_log = CoreLog()
    core_log.start()
    pipeline.start()
    rows = -(-zones // COLS)
    pool = _lines(tags, rows, 400)
    chain = _Chain(tags, pipeline.submit)
    gc.collect()
    gc.freeze()  # the config, zones and line pool are long-lived: keep them out of GC passes
    started = time.perf_counter()
    sent = 0
    step = 0
    next_probe = started
    probe = 0
    while sent < updates:
        now = time.perf_counter()
        if rate:
            due = started + sent / rate
            if due > now:
                time.sleep(min(due - now, 0.01))
                continue
            if now >= next_probe:  # a probe steps into a restricted zone (z0), then out
                next_probe = now + 0.02
                tag = f"probe{probe % probes}"
                inside = (probe // probes) % 2 == 0
                probe += 1
                line = b"POS,4.00,4.00,0.00,90\r\n" if inside else b"POS,-30.00,-30.00,0.00,90\r\n"
                if inside:
                    with lock:
                        sent_at[tag] = time.perf_counter()
                d = ShellDecoder(tag)
                chain.driver.sink(chain.driver.positions(d.feed(line), int(time.time() * 1000)))
        elif pipeline.queue_depth > 64:
            time.sleep(0.0005)  # back-pressure instead of dropping: we measure throughput
            continue
        chunk = pool[step % len(pool)]
        if rate:  # a paced batch: the tags that are due, not all at once
            part = max(1, min(tags, int(rate * 0.01)))
            lo = (sent // part) % max(1, tags // part) * part
            chain.feed(chunk[lo : lo + part], int(time.time() * 1000), lo)
            sent += part
        else:
            chain.feed(chunk, int(time.time() * 1000))
            sent += tags
        step += 1
    pipeline.stop(timeout=120)
    elapsed = time.perf_counter() - started
    core_log.stop()
    writer.flush(timeout=120)
    stats = writer.stats
    writer.stop()
    gc.unfreeze()
    return {
        "updates": sent,
        "elapsed_s": elapsed,
        "updates_per_s": sent / elapsed,
        "processed": pipeline.processed_records,
        "stored_positions": pipeline.positions.stored,
        "dropped": pipeline.dropped_readings + stats.dropped_records,
        "latencies_ms": latencies,
        "alarms": len(engine.alarms),
    }


def run(
    tags: int = 500,
    zones: int = 200,
    updates: int = 200_000,
    one_core: bool = False,
    paced_s: float = 8.0,
    step: Step = quiet,
) -> dict[str, Any]:
    cpu = pin_to_one_core() if one_core else None
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-") as tmp:
        workdir = Path(tmp)
        step(PHASES[0])
        saturated = _run(workdir, tags, zones, updates, None)
        step(PHASES[1])
        rate = tags * 10.0
        paced = _run(workdir, tags, zones, max(1, int(rate * paced_s)), rate)
    lat = paced["latencies_ms"]
    return {
        "bench": "positioning",
        "pinned_cpu": cpu,
        "tags": tags,
        "zones": zones,
        "updates": saturated["updates"],
        "processed": saturated["processed"],
        "stored_positions": saturated["stored_positions"],
        "dropped": saturated["dropped"] + paced["dropped"],
        "alarms_known": saturated["alarms"],
        "updates_per_s": round(saturated["updates_per_s"]),
        "latency_rate_per_s": round(rate),
        "latency_probes": len(lat),
        "p50_ms": round(median(lat), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


__all__ = ["PHASES", "Position", "run"]
