"""Destroying a box's data by destroying its keys (crypto-shredding).

Everything the box stores is encrypted: the store and its backups with the store key (SQLCipher),
upstream batches with the sync keys. Overwriting gigabytes on an SD card takes long and, with
wear levelling, proves nothing; destroying the 32-byte keys makes every copy of the store and
every backup unreadable at once. Each secret file in ``keys/`` is overwritten with random bytes,
flushed, and removed; the folder is flushed. Public files (``*.pub``, ``*.crt``) stay.

What this does not guarantee on flash media: the controller may keep the old key blocks in
spare cells until it erases them, readable by someone who desolders the chip and reads it raw.
Where that matters, keep ``keys/`` on separate storage that can be destroyed physically (a USB
key, a secure element) or erase the card with its own secure-erase command.

A wiped box refuses to start (:data:`WIPED_MARKER`), so a service manager restarting it does
not create new keys over the old store.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from box.core.errors import SafetyBoxError
from box.paths import BoxHome

PUBLIC_SUFFIXES = (".pub", ".crt")


def marker(home: BoxHome) -> Path:
    """Present while and after a wipe: the daemon refuses to start."""
    return home.data_dir / "WIPED"


def refuse_if_wiped(home: BoxHome) -> None:
    path = marker(home)
    if path.exists():
        raise SafetyBoxError(
            f"this box was wiped ({path.read_text(encoding='utf-8', errors='replace').strip()}): "
            f"its keys are destroyed and its store cannot be read; to use the board again, "
            f"remove {home.data_dir} and {home.keys_dir} and run 'safetybox init'"
        )


def mark(home: BoxHome, who: str) -> None:
    home.data_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = marker(home)
    path.write_text(f"at {stamp} by {who}\n", encoding="utf-8")
    _fsync(path)
    _fsync(home.data_dir)


def secret_files(home: BoxHome) -> list[Path]:
    if not home.keys_dir.is_dir():
        return []
    return sorted(
        p for p in home.keys_dir.iterdir() if p.is_file() and p.suffix not in PUBLIC_SUFFIXES
    )


def shred_keys(home: BoxHome) -> list[Path]:
    """Overwrite, flush and remove every secret key file; returns what was destroyed."""
    destroyed = []
    for path in secret_files(home):
        size = max(path.stat().st_size, 64)
        with path.open("r+b") as f:
            for _ in range(2):  # random twice: no pattern of the key survives in this file
                f.seek(0)
                f.write(os.urandom(size))
                f.flush()
                os.fsync(f.fileno())
        path.unlink()
        destroyed.append(path)
    _fsync(home.keys_dir)
    return destroyed


def delete_store(home: BoxHome) -> list[Path]:
    """Also remove the (now unreadable) store files, to free the space."""
    gone = []
    for path in sorted(home.data_dir.glob("box.db*")):
        path.unlink()
        gone.append(path)
    return gone


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
