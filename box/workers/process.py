"""One child process: start it with ``spawn``, stop it in bounded time, say how it ended.

``spawn`` rather than ``fork``: the daemon has threads, and a forked child would inherit their
locks in whatever state they were (the store writer, logging, the pipeline).
"""

from __future__ import annotations

import multiprocessing
import select
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from box.workers import child, protocol

_CONTEXT = multiprocessing.get_context("spawn")
TERM_WAIT_S = 0.5  # after SIGTERM, before SIGKILL
KILL_WAIT_S = 2.0
SEND_LOCK_WAIT_S = 0.2


class WorkerProcess:
    def __init__(self, spec: child.ChildSpec, name: str) -> None:
        parent_conn, child_conn = _CONTEXT.Pipe(duplex=True)
        self.conn: Connection = parent_conn
        self._send_lock = threading.Lock()  # the capture thread sends frames, the driver stops
        self._proc = _CONTEXT.Process(
            target=child.main, args=(spec, child_conn), name=f"worker-{name}", daemon=True
        )
        self._closed_exitcode: int | None = None
        self._proc.start()
        self.pid: int = self._proc.pid or 0
        child_conn.close()  # only the child holds its end, so its death is EOF here

    @property
    def exitcode(self) -> int | None:
        if self._closed_exitcode is not None:
            return self._closed_exitcode
        return self._proc.exitcode

    def send(self, message: tuple[Any, ...]) -> bool:
        """Never blocks for long: False if the child is gone, the pipe is full (a child that
        stopped reading: its stop then goes to SIGTERM) or another thread holds the pipe."""
        if not self._send_lock.acquire(timeout=SEND_LOCK_WAIT_S):
            return False
        try:
            if not select.select([], [self.conn.fileno()], [], 0)[1]:
                return False
            self.conn.send(message)
            return True
        except (OSError, ValueError):
            return False
        finally:
            self._send_lock.release()

    def describe_exit(self, wait_s: float = 1.0) -> str:
        if self._closed_exitcode is None:
            self._proc.join(wait_s)
        code = self.exitcode
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def stop(self, grace_s: float) -> None:
        """Ask, then SIGTERM, then SIGKILL; always reaped (no zombie) and the pipe closed."""
        proc = self._proc
        if self._closed_exitcode is not None:
            return
        if proc.exitcode is None and grace_s > 0:
            self.send((protocol.STOP,))
            proc.join(grace_s)
        if proc.exitcode is None:
            proc.terminate()
            proc.join(TERM_WAIT_S)
        self.kill()
        self.conn.close()
        if proc.exitcode is not None:
            self._closed_exitcode = proc.exitcode
            proc.close()  # releases its sentinel fd now rather than at garbage collection

    def rss_mb(self) -> float | None:
        """Resident memory of the child from /proc, None if it cannot be read."""
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError):
            pass
        return None

    def kill(self) -> None:
        proc = self._proc
        if self._closed_exitcode is None and proc.exitcode is None:
            proc.kill()
            proc.join(KILL_WAIT_S)
