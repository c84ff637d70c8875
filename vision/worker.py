"""The vision worker: runs in the camera driver's child process (``box.workers``).

Frames arrive through shared memory with their capture time (``vision.framepack``); each is
analysed by :class:`~vision.pipeline.CameraPipeline` and the records go back to the parent.
A crash, hang or memory blow-up here ends only this process: the parent restarts it and
reports the camera's channels as faulty meanwhile.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from vision.config import VisionOptions
from vision.framepack import unpack
from vision.pipeline import CameraPipeline

log = logging.getLogger(__name__)


def run(ctx: Any) -> None:
    """``ctx`` is a ``box.workers.context.WorkerContext``."""
    opts = VisionOptions.model_validate(ctx.options)
    pipeline = CameraPipeline(opts)
    ctx.heartbeat()
    while not ctx.stopping:
        frame = ctx.next_frame(timeout=1.0)
        if frame is None:
            continue
        bgr, ts_ms = unpack(frame)
        records = pipeline.process(bgr, ts_ms or time.time_ns() // 1_000_000)
        ctx.emit(records)
