"""Events and their hash chain: each row stores the hash of its content and of the previous row.

A changed, deleted or inserted row breaks the chain at that point, which ``verify_chain`` finds.
Events removed by age retention are covered by a ``gap`` event that records the hash of the
last removed row, so the chain stays checkable from the first remaining row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_details(details: dict[str, Any]) -> str:
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def event_hash(
    prev_hash: str, seq: int, ts: int, kind: str, level: int, source: str, details_json: str
) -> str:
    content = json.dumps([seq, ts, kind, level, source, details_json], ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    broken_seq: int | None = None
    reason: str = ""


def verify_chain(
    rows: Iterable[tuple[int, int, str, int, str, str, str, str]], anchor: str | None = None
) -> ChainReport:
    """Walk rows (seq, ts, kind, level, source, details, prev_hash, hash) in seq order.

    ``anchor`` is the hash of the last row removed by retention (from its ``gap`` event), used
    when the chain no longer starts at seq 1.
    """
    prev_hash: str | None = None
    prev_seq: int | None = None
    first_seq: int | None = None
    checked = 0

    def broken(reason: str) -> ChainReport:
        return ChainReport(False, checked, first_seq, prev_seq, seq, reason)

    for seq, ts, kind, level, source, details, stored_prev, stored_hash in rows:
        if first_seq is None:
            first_seq = seq
            prev_hash = GENESIS_HASH if seq == 1 else (anchor or stored_prev)
        elif seq != (prev_seq or 0) + 1:
            return broken(f"sequence jumps from {prev_seq} to {seq}: rows were deleted")
        if stored_prev != prev_hash:
            return broken("prev_hash does not match the previous row's hash")
        expected = event_hash(stored_prev, seq, ts, kind, level, source, details)
        if expected != stored_hash:
            return broken("row content does not match its hash: the row was altered")
        prev_hash, prev_seq = stored_hash, seq
        checked += 1
    return ChainReport(True, checked, first_seq, prev_seq)
