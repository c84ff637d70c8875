"""Worker functions for tests/test_workers.py: each runs in a child process of ProcessDriver."""

from __future__ import annotations

import ctypes
import os
import signal
import time
import zlib
from dataclasses import dataclass

from box.core.records import Quality, Reading, now_ms
from box.workers import protocol
from box.workers.context import WorkerContext


def emit(ctx: WorkerContext) -> None:
    """A steady worker: an increasing count on channel "level"."""
    interval = float(ctx.options.get("interval_s", 0.02))
    n = 0
    while not ctx.wait(interval):
        n += 1
        ctx.emit([Reading("level", now_ms(), float(n))])


def crash(ctx: WorkerContext) -> None:
    ctx.emit([Reading("level", now_ms(), 1.0), Reading("level", now_ms(), 2.0)])
    raise RuntimeError("model exploded")


def exit_hard(ctx: WorkerContext) -> None:
    ctx.emit([Reading("level", now_ms(), 1.0)])
    os._exit(3)


def sigkill(ctx: WorkerContext) -> None:
    ctx.emit([Reading("level", now_ms(), 1.0)])
    os.kill(os.getpid(), signal.SIGKILL)


def segfault(ctx: WorkerContext) -> None:
    ctx.emit([Reading("level", now_ms(), 1.0)])
    ctypes.string_at(0)  # reads address 0: SIGSEGV, as a broken native model would


def hang(ctx: WorkerContext) -> None:
    """Stuck in a "model call" that never returns: no heartbeat, no reaction to stop."""
    ctx.emit([Reading("level", now_ms(), 1.0)])
    time.sleep(3600)


def hog(ctx: WorkerContext) -> None:
    """Touches ``mb`` megabytes in 8 MB steps (touched, so they count as resident)."""
    chunks = []
    for _ in range(int(ctx.options["mb"]) // 8):
        chunks.append(b"\x01" * (8 << 20))
        ctx.heartbeat()
    ctx.emit([Reading("level", now_ms(), float(len(chunks)))])
    while not ctx.wait(0.1):
        pass


@dataclass(frozen=True, slots=True)
class Exotic:
    """Picklable, but not a record type the parent accepts."""

    x: int = 1


class Exploit:
    """Would run a command in the parent if the parent unpickled freely."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.path}",)


def garbage(ctx: WorkerContext) -> None:
    """Ten kinds of wrong, one good reading among them, then a final marker reading."""
    ts = now_ms()
    ctx.emit(
        [
            "not a record",
            Reading("unmapped", ts, 1.0),
            Reading("level", "yesterday", 1.0),  # type: ignore[arg-type]
            Reading("level", ts, float("nan")),
            Quality.GOOD,
            Reading("level", ts, 1.0),  # the only good one
        ]
    )
    ctx._send(("records", "a string"))  # type: ignore[arg-type] - payload not a list: garbage
    ctx._conn.send_bytes(b"\x80\x05garbage")  # not a pickle
    ctx._send((protocol.RECORDS, [Exotic()]))
    ctx._send((protocol.RECORDS, [Exploit(str(ctx.options["marker"]))]))
    ctx._send(("not", "a", "tag"))  # type: ignore[arg-type]
    ctx.emit([Reading("level", now_ms(), 99.0)])
    while not ctx.wait(0.1):
        pass


def frames(ctx: WorkerContext) -> None:
    """Emits the CRC32 of every intact frame and the count of overwritten ones so far."""
    ctx.emit([Reading("skipped", now_ms(), 0.0)])  # ready: the parent may send frames
    if ctx.wait(float(ctx.options.get("delay_s", 0))):
        return
    while not ctx.stopping:
        frame = ctx.next_frame(0.2)
        if frame is not None:
            ts = now_ms()
            ctx.emit(
                [
                    Reading("crc", ts, float(zlib.crc32(frame.tobytes()))),
                    Reading("skipped", ts, float(ctx.frames_skipped)),
                ]
            )
