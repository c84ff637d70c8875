"""The child process's entry point: limits, import the worker, run it, report how it ended."""

from __future__ import annotations

import importlib
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from box.workers import protocol
from box.workers.context import WorkerContext
from box.workers.frames import FrameRing, FrameSpec


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """What the parent passes to the child (pickled by ``spawn``)."""

    worker: str
    config: dict[str, Any]
    heartbeat_every_s: float
    memory_limit_mb: int | None = None
    frames: FrameSpec | None = None


def resolve(path: str) -> Callable[[WorkerContext], object]:
    module, _, name = path.partition(":")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise TypeError(f"{path} is not callable")
    return fn


def main(spec: ChildSpec, conn: Connection) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.memory_limit_mb is not None:
        limit = spec.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    ring: FrameRing | None = None
    try:
        if spec.frames is not None:
            ring = FrameRing.attach(spec.frames)
        fn = resolve(spec.worker)
        ctx = WorkerContext(conn, spec.config, spec.heartbeat_every_s, ring)
        conn.send_bytes(protocol.encode((protocol.HELLO, os.getpid())))
        fn(ctx)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit non-zero
        _report(conn, exc)
        sys.exit(1)
    finally:
        if ring is not None:
            ring.close()


def _report(conn: Connection, exc: BaseException) -> None:
    try:
        summary = f"{type(exc).__name__}: {exc}"
        conn.send_bytes(protocol.encode((protocol.ERROR, summary, traceback.format_exc())))
    except Exception:  # noqa: BLE001, S110 - the parent may be gone; the exit code still tells
        pass
