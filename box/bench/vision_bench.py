"""``bench vision``: the person model's frames/s at 1 and 2 threads (inference, decode and NMS
included), frame-to-result latency through the real driver (capture thread -> shared memory ->
worker process -> records back), and CPU seconds per minute of a static scene with and
without motion gating."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from box.bench.stats import percentile

PHASES = ["model 1 thread", "model 2 threads", "gating", "latency"]


def _fps(model: str, threads: int, frame: Any, seconds: float) -> dict[str, float]:
    from vision.runner import TfliteDetector

    det = TfliteDetector(model, threads)
    rgb = frame[..., ::-1]
    det.detect(rgb)  # warm-up (XNNPACK packs weights on the first run)
    n, t0 = 0, time.perf_counter()
    invoke = 0.0
    while time.perf_counter() - t0 < seconds or n < 5:
        det.detect(rgb)
        invoke += det.last_invoke_ms
        n += 1
    wall = time.perf_counter() - t0
    return {
        "fps": round(n / wall, 1),
        "ms_per_frame": round(wall / n * 1000, 2),
        "invoke_ms": round(invoke / n, 2),
        "frames": n,
    }


def _static_cpu(gating: bool, frames: int, fps_budget: float) -> float:
    """CPU seconds per minute to analyse a static scene at ``fps_budget``."""
    from sim.camera import Scene
    from vision.config import VisionOptions
    from vision.motion import MotionConfig
    from vision.pipeline import CameraPipeline

    opts = VisionOptions(camera="bench", motion=MotionConfig(enabled=gating), fps_budget=fps_budget)
    p = CameraPipeline(opts)
    scene = Scene("empty")
    images = [scene.frame(i) for i in range(8)]  # sensor noise differs, content does not
    p.process(images[0], 1)
    c0 = time.process_time()
    for i in range(frames):
        p.process(images[i % len(images)], 2 + i)
    per_frame = (time.process_time() - c0) / frames
    return per_frame * fps_budget * 60


def _latency(seconds: float) -> dict[str, Any]:
    from box.core.records import Reading, now_ms
    from sim.camera import MjpegServer, Scene
    from vision.config import CameraDriverConfig, IntrusionConfig
    from vision.driver import CameraDriver

    server = MjpegServer(Scene("person").frame, fps=10).start()
    lat: list[float] = []
    first_event: list[float] = []

    warm: list[int] = []  # the first results carry the model's warm-up; not counted

    def sink(batch: Sequence[Any]) -> None:
        t = now_ms()
        for r in batch:
            if isinstance(r, Reading) and r.value is not None and r.channel.endswith(".load"):
                if not warm:
                    warm.append(t + 2000)
                elif t >= warm[0]:
                    lat.append(t - r.ts_ms)
            if isinstance(r, Reading) and r.channel.endswith(".intrusion") and r.value:
                first_event.append(t - r.ts_ms)

    cfg = CameraDriverConfig(
        type="camera",
        name="bench",
        url=server.url,
        fps_budget=10,
        report_every_s=0.1,
        intrusion=IntrusionConfig(enabled=True),
    )
    drv = CameraDriver(cfg, sink)
    stop = threading.Event()
    drv.start()
    t = threading.Thread(target=drv.run, args=(stop,), daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + seconds + 30  # the worker loads its model first
        while time.monotonic() < deadline and len(lat) < seconds * 10:
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(15)
        drv.stop()
        server.stop()
    return {
        "samples": len(lat),
        "p50_ms": round(percentile(lat, 50), 1) if lat else None,
        "p99_ms": round(percentile(lat, 99), 1) if lat else None,
        "intrusion_result_ms": round(first_event[0], 1) if first_event else None,
    }


def run(seconds: float = 4.0, step: Callable[[str], None] | None = None) -> dict[str, Any]:
    import os

    from sim.camera import Scene
    from vision.model import PERSON_MODEL

    step = step or (lambda name: None)
    frame = Scene("person").frame(40)
    step(PHASES[0])
    one = _fps(PERSON_MODEL, 1, frame, seconds)
    step(PHASES[1])
    two = _fps(PERSON_MODEL, 2, frame, seconds)
    step(PHASES[2])
    with_gate = _static_cpu(True, 150, 5.0)
    without = _static_cpu(False, 30, 5.0)
    step(PHASES[3])
    latency = _latency(seconds * 2)
    return {
        "model": PERSON_MODEL,
        "cpus": os.cpu_count(),
        "fps_1_thread": one["fps"],
        "fps_2_threads": two["fps"],
        "ms_per_frame_1_thread": one["ms_per_frame"],
        "invoke_ms_1_thread": one["invoke_ms"],
        "ms_per_frame_2_threads": two["ms_per_frame"],
        "static_cpu_s_per_min_gated": round(with_gate, 2),
        "static_cpu_s_per_min_ungated": round(without, 2),
        "motion_gating_cpu_ratio": round(without / with_gate, 1) if with_gate else None,
        "frame_to_event_p50_ms": latency["p50_ms"],
        "frame_to_event_p99_ms": latency["p99_ms"],
        "latency_samples": latency["samples"],
        "note": "fps include resize, decode and NMS; latency is camera read -> result back "
        "in the box process through the worker; CPU at 5 analysed frames/s",
    }
