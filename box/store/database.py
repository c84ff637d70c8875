"""Open the encrypted store: SQLCipher through ``sqlcipher3``, wrapped by ``sqlite_utils``.

The key is a raw 256-bit key from the key provider (``x'..'`` form, so no slow KDF at open);
it never comes from the config or the command line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlcipher3
import sqlite_utils

from box.core.errors import StoreError
from box.store.migrations import MIGRATIONS


def connect(
    path: Path, key: bytes, *, readonly: bool = False, synchronous: str = "normal"
) -> sqlite3.Connection:
    """A keyed connection in autocommit mode (transactions are explicit). Checks the key.

    It is sqlcipher3's connection, which has the API of (but does not derive from)
    :class:`sqlite3.Connection`; sqlcipher3 ships no type information, so it is typed as that."""
    if readonly and not path.exists():
        raise StoreError(f"no store at {path}: has the box run yet?")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError:
        conn.close()
        raise StoreError(f"cannot open {path}: wrong key or not a SafetyBox store") from None
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        # auto_vacuum is chosen before the first table exists; it lets eviction shrink the file.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        # Deleted rows' bytes are zeroed inside the pages that stay (retention, wipe of old
        # data); whole freed pages go back by incremental vacuum. FAST: no extra writes.
        conn.execute("PRAGMA secure_delete = FAST")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def open_store(
    path: Path, key: bytes, *, readonly: bool = False, synchronous: str = "normal"
) -> sqlite_utils.Database:
    """Open (and on write access, create and migrate) the store at ``path``."""
    conn = connect(path, key, readonly=readonly, synchronous=synchronous)
    db = sqlite_utils.Database(conn)
    if not readonly:
        MIGRATIONS.apply(db)
    return db
