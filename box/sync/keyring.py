"""Sync and downlink keys: the current sync key, retired ones (for the consumer's grace
period), rotation, and the export an upstream platform imports.

Files (all 0600): ``keys/sync.key`` (current), ``keys/sync-retired/<id>-<unix time>.key``,
``keys/downlink.key`` (commands from upstream are sealed with it).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from box.atomic import write_atomic
from box.keys import KEY_BYTES, SYNC_KEY, FileKeyProvider

DOWNLINK_KEY = "downlink"
EXPORT_FORMAT = "safetybox-provisioning-v1"


@dataclass(frozen=True)
class RetiredKey:
    key_id: str
    key: bytes
    retired_at: float


class SyncKeyring:
    def __init__(self, provider: FileKeyProvider) -> None:
        self.provider = provider
        self.retired_dir = provider.keys_dir / "sync-retired"

    def current(self) -> tuple[str, bytes]:
        key = self.provider.get(SYNC_KEY)
        return self.provider.key_id(SYNC_KEY), key

    def downlink(self) -> bytes:
        return self.provider.get(DOWNLINK_KEY)

    def retired(self) -> list[RetiredKey]:
        out = []
        for path in sorted(self.retired_dir.glob("*.key")):
            key_id, _, stamp = path.stem.partition("-")
            sub = FileKeyProvider(self.retired_dir)
            out.append(RetiredKey(key_id, sub.get(path.stem), float(stamp)))
        return out

    def rotate(self, now: float | None = None) -> tuple[str, str]:
        """Retire the current sync key and create a new one; returns (old id, new id)."""
        now = time.time() if now is None else now
        old_id, old_key = self.current()
        self.retired_dir.mkdir(mode=0o700, exist_ok=True)
        write_atomic(self.retired_dir / f"{old_id}-{int(now)}.key", old_key.hex() + "\n", 0o600)
        write_atomic(self.provider.path(SYNC_KEY), secrets.token_hex(KEY_BYTES) + "\n", 0o600)
        return old_id, self.current()[0]

    def export(self, box_id: str, cipher: str) -> dict[str, Any]:
        """Everything an upstream platform needs to verify, decrypt and command this box."""
        key_id, key = self.current()
        return {
            "format": EXPORT_FORMAT,
            "box_id": box_id,
            "cipher": cipher,
            "sync_keys": [{"key_id": key_id, "key": key.hex(), "retired_at": None}]
            + [
                {"key_id": r.key_id, "key": r.key.hex(), "retired_at": r.retired_at}
                for r in self.retired()
            ],
            "downlink_key": self.downlink().hex(),
        }


def write_export(path: Path, data: dict[str, Any]) -> None:
    """Provisioning files hold keys: written 0600, atomically."""
    write_atomic(path, json.dumps(data, indent=2) + "\n", 0o600)
    os.chmod(path, 0o600)
