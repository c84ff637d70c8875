"""One process writes a store at a time: an exclusive lock held for the writer's lifetime.

Two writers on one store collide on the event sequence and lose data (a second daemon, or a
``users`` command opening its own writer beside a running box). The lock is ``flock`` on
``box.lock`` beside ``box.db`` (:func:`lock_file_for`), taken by the store writer. The kernel
releases it when the holder dies, even by SIGKILL, so a stale lock file never blocks a
restart. The file holds the holder's pid and role, for the message a second starter gets.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from box.core.errors import SafetyBoxError

log = logging.getLogger(__name__)
_DISK_REFUSES = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO)

DAEMON = "daemon"


@dataclass(frozen=True)
class Holder:
    pid: int
    role: str  # "daemon", or the CLI command that works on the store directly

    def describe(self) -> str:
        what = "the box daemon" if self.role == DAEMON else f"'safetybox {self.role}'"
        return f"{what} (pid {self.pid})" if self.pid else what


class BoxRunning(SafetyBoxError, BlockingIOError):
    """Another process holds the store's lock."""

    def __init__(self, lock_file: Path, holder: Holder) -> None:
        self.holder = holder
        store = lock_file.with_suffix(".db")
        if holder.role == DAEMON:
            advice = (
                "stop it first (systemctl stop safetybox, or Ctrl-C where it runs), "
                "or give this one another --home"
            )
        else:
            advice = "wait for it to finish and try again"
        super().__init__(f"{holder.describe()} already writes the store {store}: {advice}")


def lock_file_for(database: Path) -> Path:
    return database.with_suffix(".lock")


class InstanceLock:
    """``flock`` on a store's lock file; acquire once, release on stop."""

    def __init__(self, lock_file: Path) -> None:
        self.path = lock_file
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, role: str, wait_s: float = 0.0) -> None:
        """Take the lock or raise :class:`BoxRunning` naming the holder.

        ``wait_s``: how long to wait for a holder that is a short CLI command (a daemon never
        waits for another daemon: that one is meant to run for months).
        """
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            if exc.errno not in _DISK_REFUSES:
                raise
            # A read-only (or full) disk: flock works on a read-only descriptor too; with no
            # lock file at all, no process can write the store there either.
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                role = ""  # nothing can be written: the flock alone says it is held
            except FileNotFoundError:
                log.warning("no lock file %s on a disk that refuses writes (%s)", self.path, exc)
                return
        # At least a moment: the holder may be only a look (holder()) or not have written its pid.
        deadline = time.monotonic() + max(wait_s, 1.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(fd)
                known_daemon = holder.pid and holder.role == DAEMON
                if known_daemon or time.monotonic() >= deadline:
                    os.close(fd)
                    raise BoxRunning(self.path, holder) from None
                time.sleep(0.1)
        try:
            if role:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {role}\n".encode(), 0)
        except OSError as exc:  # the holder's name is a courtesy; the flock is the lock
            if exc.errno not in _DISK_REFUSES:
                os.close(fd)
                raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None

    def holder(self) -> Holder | None:
        """Who holds the lock now, or None if nobody does (without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        finally:
            os.close(fd)  # also drops the shared lock, if it was taken
        return None


def _read_holder(fd: int) -> Holder:
    try:
        pid_text, _, role = os.pread(fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
        return Holder(int(pid_text), role or DAEMON)
    except (OSError, ValueError):
        return Holder(0, DAEMON)  # written a moment from now; assume the worst


@contextlib.contextmanager
def held(lock_file: Path, role: str, wait_s: float = 0.0) -> Iterator[InstanceLock]:
    lock = InstanceLock(lock_file)
    lock.acquire(role, wait_s)
    try:
        yield lock
    finally:
        lock.release()
