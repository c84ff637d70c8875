"""A reserve file beside the store: space held back so that a full disk never leaves the store
without room for the transactions that make room (evicting old readings with their gap event,
checkpointing the WAL). When a commit finds the disk full, the writer deletes the reserve,
evicts, and runs on; it takes the space back once the disk has room again."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

RESERVE_BYTES = 4 * 1024 * 1024
NAME = ".store-reserve"


class Reserve:
    def __init__(self, folder: Path, size: int = RESERVE_BYTES) -> None:
        self.path = folder / NAME
        self.size = size

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def take(self) -> bool:
        """Hold the reserve if the disk has room for it and as much again; whether it is held."""
        if self.held:
            return True
        try:
            st = os.statvfs(self.path.parent)
            if st.f_bavail * st.f_frsize < 2 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.debug("cannot hold the store's reserve: %s", exc)
            with contextlib.suppress(OSError):  # a part-made reserve holds nothing reliable
                if self.path.exists() and not self.held:
                    self.path.unlink()
            return False
        return True

    def release(self) -> bool:
        """Give the reserve to the store (the disk is full); whether there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:  # a read-only disk: nothing to gain
            log.debug("cannot release the store's reserve: %s", exc)
            return False
        log.error("disk full: released the store's %d MB reserve", self.size // 2**20)
        return True
