"""Open the encrypted store: SQLCipher through ``sqlcipher3``.

The key is a raw 256-bit key from the key provider (``x'..'`` form, so no slow KDF at open);
it never comes from the config or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlcipher3

from box.core.errors import StoreError
from box.store.migrations import MIGRATIONS

if TYPE_CHECKING:
    import sqlite3

# SQLite result codes that mean the disk, not the file or the key, is the trouble.
_DISK_TROUBLE = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


class StoreUnavailable(StoreError):
    """The disk refuses the store (full, read-only, I/O errors): the box runs without it and
    retries; unlike a wrong key, this is expected to pass."""


def disk_trouble(exc: BaseException) -> bool:
    """Whether an SQLite error is the disk's (full, read-only, I/O), not a bug or a bad file."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    text = str(exc)
    return name.startswith(_DISK_TROUBLE) or any(
        m in text for m in ("disk is full", "disk I/O error", "readonly database", "unable to open")
    )


def disk_full(exc: BaseException) -> bool:
    return str(getattr(exc, "sqlite_errorname", "")) == "SQLITE_FULL" or "disk is full" in str(exc)


def connect(
    path: Path, key: bytes, *, readonly: bool = False, synchronous: str = "normal"
) -> sqlite3.Connection:
    """A keyed connection in autocommit mode (transactions are explicit). Checks the key.

    It is sqlcipher3's connection, which has the API of (but does not derive from)
    :class:`sqlite3.Connection`; sqlcipher3 ships no type information, so it is typed as that."""
    if readonly and not path.exists():
        raise StoreError(f"no store at {path}: has the box run yet?")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlcipher3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=30
        )
    except (OSError, sqlcipher3.Error) as exc:
        raise StoreUnavailable(f"cannot open {path}: {exc}") from None
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        if disk_trouble(exc):  # e.g. no room for the -shm file on a full disk
            raise StoreUnavailable(f"cannot open {path}: {exc}") from None
        raise StoreError(f"cannot open {path}: wrong key or not a SafetyBox store") from None
    try:
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        else:
            _set_write_pragmas(conn, synchronous)
        conn.execute("PRAGMA busy_timeout = 30000")
    except sqlcipher3.Error as exc:
        conn.close()
        raise StoreUnavailable(f"cannot open {path}: {exc}") from None
    return conn


def _set_write_pragmas(conn: sqlite3.Connection, synchronous: str) -> None:
    """Only the pragmas that change something are run: on a full or read-only disk a PRAGMA
    that would write (even to set what is already set) fails and would keep the box from
    starting its alarms."""
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        # auto_vacuum is chosen before the first table exists; it lets eviction shrink the file.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    # Deleted rows' bytes are zeroed inside the pages that stay (retention, wipe of old
    # data); whole freed pages go back by incremental vacuum. FAST: no extra writes.
    conn.execute("PRAGMA secure_delete = FAST")  # per connection: no write
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")  # per connection: no write


@dataclass(frozen=True)
class Store:
    """An open store: its keyed connection (autocommit mode; transactions are explicit)."""

    conn: sqlite3.Connection

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)


def open_store(
    path: Path, key: bytes, *, readonly: bool = False, synchronous: str = "normal"
) -> Store:
    """Open (and on write access, create and migrate) the store at ``path``."""
    conn = connect(path, key, readonly=readonly, synchronous=synchronous)
    if not readonly:
        try:
            MIGRATIONS.apply(conn)
        except sqlcipher3.Error as exc:
            conn.close()
            if disk_trouble(exc):
                raise StoreUnavailable(f"cannot migrate {path}: {exc}") from None
            raise
        except BaseException:
            conn.close()
            raise
    return Store(conn)
