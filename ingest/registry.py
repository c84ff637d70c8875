"""The key registry: every box's sync keys (current and retired, with their grace period) and
its downlink key, imported from the boxes' own exports (``safetybox keys export``).

Re-importing an export after ``safetybox keys rotate`` adds the new key and marks the old one
retired from the time the box retired it; a key is accepted until ``retired_at + grace``.
``revoke`` ends a key's validity at once (a leaked key needs no grace period).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from box.sync.envelope import CIPHER_NAMES, key_id_bytes

EXPORT_FORMAT = "safetybox-provisioning-v1"
BOX_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
CACHE_S = 30.0  # a worker re-reads a box's keys at least this often
MISS_S = 1.0  # and on an unknown key id or box, at most once per this (floods of junk)


class ExportError(ValueError):
    """A key export that cannot be imported (names the field)."""


def _key(hexstr: Any, what: str) -> bytes:
    try:
        key = bytes.fromhex(str(hexstr))
    except ValueError:
        raise ExportError(f"{what} is not hex") from None
    if len(key) != 32:
        raise ExportError(f"{what} must be 32 bytes (64 hex digits), got {len(key)}")
    return key


def parse_export(data: Any) -> dict[str, Any]:
    """Check an export and return it normalised: box_id, cipher, sync_keys, downlink_key."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ExportError(f"not a key export: 'format' must be {EXPORT_FORMAT!r}")
    box_id = data.get("box_id")
    if not isinstance(box_id, str) or not BOX_ID.match(box_id):
        raise ExportError(f"bad box_id {box_id!r}")
    if data.get("cipher") not in CIPHER_NAMES:
        raise ExportError(f"cipher must be one of {sorted(CIPHER_NAMES)}")
    keys = data.get("sync_keys")
    if not isinstance(keys, list) or not keys:
        raise ExportError("sync_keys must be a non-empty list")
    out = []
    current = 0
    for i, k in enumerate(keys):
        if not isinstance(k, dict):
            raise ExportError(f"sync_keys[{i}] is not an object")
        key = _key(k.get("key"), f"sync_keys[{i}].key")
        if key_id_bytes(key).hex() != k.get("key_id"):
            raise ExportError(f"sync_keys[{i}].key_id does not match its key")
        retired = k.get("retired_at")
        if retired is not None and (
            isinstance(retired, bool) or not isinstance(retired, int | float)
        ):
            raise ExportError(f"sync_keys[{i}].retired_at must be unix time or null")
        current += retired is None
        out.append((key_id_bytes(key), key, retired))
    if current != 1:
        raise ExportError(f"an export has exactly one current key (retired_at null), not {current}")
    return {
        "box_id": box_id,
        "cipher": data["cipher"],
        "sync_keys": out,
        "downlink_key": _key(data.get("downlink_key"), "downlink_key"),
    }


def import_export(
    conn: psycopg.Connection, data: Any, grace_days: float = 7.0, command_seq: int | None = None
) -> str:
    """Add or update one box from its export; returns the box id. One transaction."""
    e = parse_export(data)
    grace = dt.timedelta(days=grace_days)
    with conn.transaction():
        conn.execute(
            "INSERT INTO boxes (box_id, cipher, downlink_key, command_seq)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (box_id) DO UPDATE SET"
            " cipher = excluded.cipher, downlink_key = excluded.downlink_key,"
            " command_seq = greatest(boxes.command_seq, excluded.command_seq)",
            (e["box_id"], e["cipher"], e["downlink_key"], command_seq or 0),
        )
        for kid, key, retired in e["sync_keys"]:
            at = dt.datetime.fromtimestamp(retired, dt.UTC) if retired is not None else None
            until = at + grace if at is not None else None
            # A retirement, once known, is kept (the earlier one wins); a revocation too.
            conn.execute(
                "INSERT INTO box_keys (box_id, key_id, key, retired_at, valid_until)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (box_id, key_id) DO UPDATE SET"
                " retired_at = coalesce(least(box_keys.retired_at, excluded.retired_at),"
                "   box_keys.retired_at, excluded.retired_at),"
                " valid_until = coalesce(least(box_keys.valid_until, excluded.valid_until),"
                "   box_keys.valid_until, excluded.valid_until)",
                (e["box_id"], kid, key, at, until),
            )
    return str(e["box_id"])


def revoke(conn: psycopg.Connection, box_id: str, key_id_hex: str) -> bool:
    cur = conn.execute(
        "UPDATE box_keys SET valid_until = now(), retired_at = coalesce(retired_at, now())"
        " WHERE box_id = %s AND key_id = %s",
        (box_id, bytes.fromhex(key_id_hex)),
    )
    conn.commit()
    return cur.rowcount == 1


@dataclass
class BoxKeys:
    sync: dict[bytes, tuple[bytes, float | None]]  # key id -> (key, valid until, unix)
    cipher: str
    downlink: bytes
    loaded: float

    def accepted(self, now: float) -> dict[bytes, bytes]:
        return {k: v for k, (v, until) in self.sync.items() if until is None or now <= until}


class KeyCache:
    """A worker's view of the registry: loaded per box on first use, refreshed when an
    envelope names a key id it does not know, and every CACHE_S seconds."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._boxes: dict[str, BoxKeys] = {}
        self._missed: dict[tuple[str, bytes], float] = {}  # (box, key id) -> last reload
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _load(self, box_id: str) -> BoxKeys | None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
        row = self._conn.execute(
            "SELECT cipher, downlink_key FROM boxes WHERE box_id = %s", (box_id,)
        ).fetchone()
        if row is None:
            return None
        keys = self._conn.execute(
            "SELECT key_id, key, extract(epoch FROM valid_until) FROM box_keys WHERE box_id = %s",
            (box_id,),
        ).fetchall()
        return BoxKeys(
            {bytes(k): (bytes(v), float(u) if u is not None else None) for k, v, u in keys},
            row[0],
            bytes(row[1]),
            time.monotonic(),
        )

    def keys_for(self, box_id: str, key_id: bytes) -> dict[bytes, bytes] | None:
        """The sync keys accepted now for ``box_id`` (None: the box is not registered)."""
        with self._lock:
            if len(self._missed) > 10_000:  # junk with ever new ids: forget, stay bounded
                self._missed.clear()
            bk = self._boxes.get(box_id)
            now = time.monotonic()
            stale = bk is None or now - bk.loaded > CACHE_S
            if bk is not None and key_id not in bk.sync and not stale:
                # An unknown key id: perhaps imported since; look again, but not per envelope.
                stale = now - self._missed.get((box_id, key_id), float("-inf")) >= MISS_S
                if stale:
                    self._missed[(box_id, key_id)] = now
            if bk is None and now - self._missed.get((box_id, b""), float("-inf")) < MISS_S:
                return None  # an unregistered box asked about a moment ago
            if stale:
                fresh = self._load(box_id)
                if fresh is None:
                    self._boxes.pop(box_id, None)
                    self._missed[(box_id, b"")] = now
                    return None
                self._boxes[box_id] = bk = fresh
            assert bk is not None  # noqa: S101
            return bk.accepted(time.time())

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
