"""A consistent copy of the running store, still encrypted with the store key (SQLite's online
backup between two keyed connections: readers and the writer carry on meanwhile)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from box.core.errors import StoreError
from box.store.database import connect

PAGES_PER_STEP = 1024  # 4 MiB at a time: the writer is never blocked for long


def backup(
    db_path: Path, key: bytes, target: Path, progress: Callable[[int, int], None] | None = None
) -> int:
    """Copy ``db_path`` to a new file ``target`` (mode 0600; never overwrites); returns its size.
    ``progress(done_pages, total_pages)`` is called as the copy advances."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(f"{target} exists: choose a new file name") from None
    except OSError as exc:
        raise StoreError(f"cannot create {target}: {exc.strerror}") from None
    os.close(fd)
    try:
        source = connect(db_path, key, readonly=True)
        try:
            copy = connect(target, key)
            try:
                source.backup(
                    copy,
                    pages=PAGES_PER_STEP,
                    progress=(lambda _s, left, total: progress(total - left, total))
                    if progress
                    else None,
                )
                copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                copy.close()
        finally:
            source.close()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target.stat().st_size
