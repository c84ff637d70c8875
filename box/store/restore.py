"""Put a store backup (``safetybox backup``) back in place of the store, only once it is sound.

The backup is copied beside the store first and checked there: it opens with the store key, it
passes ``PRAGMA integrity_check``, it has the store's tables and its events' hash chain is
intact. Only then is the current store renamed aside (never deleted) and the copy renamed into
place. The store's lock is held throughout, so no box can start meanwhile, and a running box
makes the restore refuse: the daemon would go on writing into a file that is no longer the store.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from box.core.errors import StoreError
from box.core.levels import Level
from box.core.records import Event, now_ms
from box.instance import BoxRunning, InstanceLock, lock_file_for
from box.store.audit import audit_events
from box.store.config import StoreSection
from box.store.database import connect
from box.store.writer import StoreWriter

SIDECARS = ("", "-wal", "-shm")  # SQLite names a store's WAL and index after the main file
REQUIRED_TABLES = {"readings", "events", "state", "channels"}


@dataclass(frozen=True)
class RestoreResult:
    restored_from: str
    kept_aside: str | None  # the replaced store, renamed; None if there was none
    readings: int
    events: int
    last_event_seq: int | None


def restore(db_path: Path, key: bytes, backup_file: Path) -> RestoreResult:
    """Replace the store at ``db_path`` by ``backup_file``; raise :class:`StoreError` (with
    nothing changed) if a box runs or the backup is not a sound store for this key."""
    lock = InstanceLock(lock_file_for(db_path))
    try:
        lock.acquire("restore")
    except BoxRunning as exc:
        raise StoreError(
            f"cannot restore while {exc.holder.describe()} runs on {db_path}: stop it first "
            "(systemctl stop safetybox, or Ctrl-C where it runs); nothing was changed"
        ) from None
    staged = db_path.with_name(db_path.name + ".restoring")
    try:
        _remove(staged)  # left by a restore that was interrupted
        try:
            shutil.copyfile(backup_file, staged)
        except OSError as exc:
            raise StoreError(f"cannot read {backup_file}: {exc.strerror}") from None
        os.chmod(staged, 0o600)
        readings, events, last_seq = _verify(staged, key, backup_file)
        replaced_seq = _last_seq_or_none(db_path, key)
        aside = _aside_name(db_path) if db_path.exists() else None
        if aside is not None:
            _move(db_path, aside)
        _move(staged, db_path)
        _fsync_dir(db_path.parent)
        # The restore goes into the restored store's own audit trail, under the same lock.
        writer = StoreWriter(db_path, key, StoreSection(), owner="restore", lock=lock)
        writer.start()
        details: dict[str, Any] = {
            "from": str(backup_file),
            "kept_aside": str(aside) if aside else None,
            "backup_last_seq": last_seq,
            "replaced_last_seq": replaced_seq,
        }
        writer.submit_event(Event("store_restored", "cli", now_ms(), Level.INFO, details))
        writer.flush()
        writer.stop()
    finally:
        _remove(staged)
        lock.release()
    return RestoreResult(
        str(backup_file), str(aside) if aside else None, readings, events, last_seq
    )


def _verify(staged: Path, key: bytes, backup_file: Path) -> tuple[int, int, int | None]:
    """(readings, events, last event seq) of a sound backup; StoreError naming what is wrong."""
    refuse = f"{backup_file} is not restored (the store is unchanged)"
    try:
        conn = connect(staged, key, readonly=True)
    except StoreError:
        raise StoreError(
            f"{refuse}: the store key does not open it (a backup of another box, or not a "
            "SafetyBox backup at all)"
        ) from None
    try:
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        except Exception as exc:  # noqa: BLE001 - sqlcipher3's DatabaseError: a damaged file
            raise StoreError(f"{refuse}: it is damaged ({exc})") from None
        if problems != ["ok"]:
            raise StoreError(f"{refuse}: integrity_check: {'; '.join(problems[:5])}")
        missing = REQUIRED_TABLES - tables
        if missing:
            raise StoreError(f"{refuse}: not a SafetyBox store (no {', '.join(sorted(missing))})")
        chain = audit_events(conn, key)
        if not chain.ok:
            raise StoreError(
                f"{refuse}: its event hash chain is broken at seq {chain.broken_seq}: "
                f"{chain.reason}"
            )
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        return readings, chain.checked, chain.last_seq
    finally:
        conn.close()


def _last_seq_or_none(db_path: Path, key: bytes) -> int | None:
    """The replaced store's last event, for the audit record (it may be the damaged one)."""
    try:
        conn = connect(db_path, key, readonly=True)
    except StoreError:
        return None
    try:
        return conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    except Exception:  # noqa: BLE001 - a damaged store is still kept aside, just not read
        return None
    finally:
        conn.close()


def _aside_name(db_path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        name = f"{db_path.stem}-replaced-{stamp}{f'-{n}' if n else ''}{db_path.suffix}"
        candidate = db_path.with_name(name)
        if not any(Path(f"{candidate}{s}").exists() for s in SIDECARS):
            return candidate
    raise StoreError(f"too many replaced stores beside {db_path}: move some away")


def _move(src: Path, dst: Path) -> None:
    """Rename a store with its WAL and shared-memory files, so it stays complete."""
    for suffix in SIDECARS:
        part = Path(f"{src}{suffix}")
        if part.exists():
            os.rename(part, f"{dst}{suffix}")


def _remove(path: Path) -> None:
    for suffix in SIDECARS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
