"""Events and their hash chain: each row stores the hash of its content and of the previous row.

A changed, deleted or inserted row breaks the chain at that point, which ``verify_chain`` finds.
Events removed by age retention are covered by a ``gap`` event that records the hash of the
last removed row, so the chain stays checkable from the first remaining row.

Hash versions (stored per row in ``events.hash_v``, carried per event upstream):

- **2** (every event written since): SHA-256 of the RFC 8785 (JCS) canonical JSON of the
  object ``{"details", "kind", "level", "prev_hash", "seq", "source", "ts"}``, as lowercase hex.
  Any language with a JCS implementation recomputes it from the event as the feed carries it.
- **1** (stores written before): SHA-256 of ``prev_hash + "\\n" + json.dumps([seq, ts, kind,
  level, source, details_text])`` with Python's ``json`` defaults; ``details_text`` is the stored
  details string. Verified here as it always was; upstream it is documented but not portable.

The first version-2 row of an upgraded store simply has a version-1 row's hash as its
``prev_hash``: the chain is unbroken across the switch, no re-anchoring is needed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64  # the prev_hash of event seq 1
HASH_V_LEGACY = 1
HASH_V = 2  # what the writer uses for new events
MAX_SAFE_INT = 2**53 - 1  # JCS numbers are IEEE doubles: larger integers go as strings


def json_safe(value: Any) -> Any:
    """Details as JCS can encode them, without silent loss of meaning.

    Non-finite floats become null (JSON has no NaN); integers beyond 2^53 - 1 and anything that
    is not JSON (paths, enums...) become their decimal or ``str`` text; tuples become lists;
    mapping keys become strings.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def canonical_details(details: dict[str, Any]) -> str:
    """The details as stored: their JCS text (so stored, hashed and sent forms agree)."""
    return rfc8785.dumps(json_safe(details)).decode("utf-8")


def hashed_bytes(
    prev_hash: str, seq: int, ts: int, kind: str, level: int, source: str, details: Any
) -> bytes:
    """Exactly the bytes a version-2 hash covers (``details`` parsed, not text)."""
    return rfc8785.dumps(
        {
            "details": details,
            "kind": kind,
            "level": level,
            "prev_hash": prev_hash,
            "seq": seq,
            "source": source,
            "ts": ts,
        }
    )


def event_hash(
    prev_hash: str,
    seq: int,
    ts: int,
    kind: str,
    level: int,
    source: str,
    details_json: str,
    hash_v: int = HASH_V,
) -> str:
    """The hash of a stored row (``details_json`` is the stored details text)."""
    if hash_v == HASH_V:
        details = json.loads(details_json)
        return hashlib.sha256(
            hashed_bytes(prev_hash, seq, ts, kind, level, source, details)
        ).hexdigest()
    if hash_v == HASH_V_LEGACY:
        content = json.dumps([seq, ts, kind, level, source, details_json], ensure_ascii=False)
        return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()
    raise ValueError(f"unknown event hash version {hash_v}")


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    broken_seq: int | None = None
    reason: str = ""


Row = tuple[Any, ...]  # (seq, ts, kind, level, source, details, prev_hash, hash[, hash_v])


def verify_chain(rows: Iterable[Row], anchor: str | None = None) -> ChainReport:
    """Walk rows (seq, ts, kind, level, source, details, prev_hash, hash[, hash_v]) in seq
    order; rows without ``hash_v`` are version 1.

    ``anchor`` is the hash of the last row removed by retention (from its ``gap`` event), used
    when the chain no longer starts at seq 1.
    """
    prev_hash: str | None = None
    prev_seq: int | None = None
    first_seq: int | None = None
    checked = 0
    seq = None

    def broken(reason: str) -> ChainReport:
        return ChainReport(False, checked, first_seq, prev_seq, seq, reason)

    for row in rows:
        seq, ts, kind, level, source, details, stored_prev, stored_hash = row[:8]
        hash_v = row[8] if len(row) > 8 else HASH_V_LEGACY
        if first_seq is None:
            first_seq = seq
            prev_hash = GENESIS_HASH if seq == 1 else (anchor or stored_prev)
        elif seq != (prev_seq or 0) + 1:
            return broken(f"sequence jumps from {prev_seq} to {seq}: rows were deleted")
        if stored_prev != prev_hash:
            return broken("prev_hash does not match the previous row's hash")
        try:
            expected = event_hash(stored_prev, seq, ts, kind, level, source, details, hash_v)
        except ValueError as exc:  # unknown version, or details that are not JSON
            return broken(f"row cannot be hashed: {exc}")
        if expected != stored_hash:
            return broken("row content does not match its hash: the row was altered")
        prev_hash, prev_seq = stored_hash, seq
        checked += 1
    return ChainReport(True, checked, first_seq, prev_seq)
