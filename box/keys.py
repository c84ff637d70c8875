"""Key access behind a small interface, so a TPM or secure element can replace key files later.

Keys are 256-bit random values. The file provider keeps each in its own file, hex encoded,
mode 0600, and refuses to use a file that the group or others can read.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from abc import ABC, abstractmethod
from pathlib import Path

from box.core.errors import KeyFileError
from box.paths import setup_advice

STORE_KEY = "store"
SYNC_KEY = "sync"
API_TOKEN = "api"  # noqa: S105 - the name of the key file, not a secret
KEY_BYTES = 32


class KeyProvider(ABC):
    """Gives out named secrets; never logs or returns them in error messages."""

    @abstractmethod
    def get(self, name: str) -> bytes:
        """Return the key called ``name`` or raise :class:`KeyFileError`."""

    @abstractmethod
    def create(self, name: str) -> bool:
        """Create key ``name`` if absent; return True if it was created. Never overwrites."""

    def key_id(self, name: str) -> str:
        """A short public identifier of a key: the first 8 hex digits of its SHA-256."""
        return hashlib.sha256(self.get(name)).hexdigest()[:8]


class FileKeyProvider(KeyProvider):
    """Keys as hex files ``<dir>/<name>.key`` with mode 0600."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir

    def path(self, name: str) -> Path:
        return self.keys_dir / f"{name}.key"

    def get(self, name: str) -> bytes:
        path = self.path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyFileError(f"key file {path} is missing: {setup_advice(path)}") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):o}); fix it with: chmod 600 {path}"
            )
        text = path.read_text(encoding="ascii", errors="replace").strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise KeyFileError(f"key file {path} is not hex encoded") from None
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"key file {path} holds {len(key)} bytes, expected {KEY_BYTES}")
        return key

    def create(self, name: str) -> bool:
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        path = self.path(name)
        try:
            # O_EXCL: a second init (or a race) can never overwrite an existing key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            self.get(name)  # still check mode and format, so init reports a bad key file
            return False
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(KEY_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return True
