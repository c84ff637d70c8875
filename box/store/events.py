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
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64  # the prev_hash of event seq 1
HASH_V_LEGACY = 1
HASH_V = 2  # what the writer uses for new events
MAX_SAFE_INT = 2**53 - 1  # JCS numbers are IEEE doubles: larger integers go as strings


def json_safe(value: Any) -> Any:
    """Details as JCS can encode them, without silent loss of meaning.

    Non-finite floats become null (JSON has no NaN); integral numbers beyond 2^53 - 1 (and
    below 1e21, which JCS writes as an exponent) and anything that is not JSON (paths, enums...)
    become their decimal or ``str`` text, so that parsing the text back in any language gives
    the same value; tuples become lists; mapping keys become strings; text that is not valid
    Unicode (lone surrogates) gets U+FFFD. Integral floats become integers (JCS writes them
    alike).
    """
    return _normal(value, [False])


def _normal(value: Any, slow: list[bool]) -> Any:
    """json_safe; sets ``slow[0]`` when Python's C json encoder would not write the JCS form."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if _encodable(value) else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int):
        return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            if abs(value) <= MAX_SAFE_INT:
                return int(value)
            if abs(value) < 1e21:  # JCS would write integer digits, parsed back as a big int
                return str(int(value))
            slow[0] = True  # JCS writes an exponent (1e+21): parsed back as a float
            return value
        if abs(value) < 1e-4:  # Python writes 1e-05, JCS 0.00001
            slow[0] = True
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _normal(str(k), slow)
            if not key.isascii() and max(key) > "\uffff":  # UTF-16 order differs from Python's
                slow[0] = True
            out[key] = _normal(v, slow)
        return out
    if isinstance(value, list | tuple):
        return [_normal(v, slow) for v in value]
    return _normal(str(value), slow)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def jcs(value: Any) -> str:
    """RFC 8785 canonical JSON of ``value`` (made JSON-safe first): Python's C encoder where it
    writes the same text (strings, integers, nesting, keys sorted, most floats), the rfc8785
    library otherwise; property tests check the two agree."""
    slow = [False]
    ready = _normal(value, slow)
    if slow[0]:
        return rfc8785.dumps(ready).decode("utf-8")
    return json.dumps(ready, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_details(details: dict[str, Any]) -> str:
    """The details as stored: their JCS text (so stored, hashed and sent forms agree)."""
    return jcs(details)


def hashed_bytes(
    prev_hash: str, seq: int, ts: int, kind: str, level: int, source: str, details: Any
) -> bytes:
    """Exactly the bytes a version-2 hash covers (``details`` parsed, not text)."""
    return _hashed(prev_hash, seq, ts, kind, level, source, jcs(details))


def _hashed(
    prev_hash: str, seq: int, ts: int, kind: str, level: int, source: str, details_jcs: str
) -> bytes:
    # Members in JCS order (all ASCII names): details, kind, level, prev_hash, seq, source, ts.
    text = _string
    return (
        f'{{"details":{details_jcs},"kind":{text(kind)},"level":{int(level)},'
        f'"prev_hash":{text(prev_hash)},"seq":{int(seq)},"source":{text(source)},"ts":{int(ts)}}}'
    ).encode()


def _string(value: str) -> str:
    """A JSON string as JCS writes it (the same escapes as Python's encoder without ASCII)."""
    return encode_basestring(value if _encodable(value) else json_safe(value))


def seal_event(
    prev_hash: str, seq: int, ts: int, kind: str, level: int, source: str, details: dict[str, Any]
) -> tuple[str, str]:
    """(details text to store, version-2 hash) of a new event."""
    text = canonical_details(details)
    digest = hashlib.sha256(_hashed(prev_hash, seq, ts, kind, level, source, text)).hexdigest()
    return text, digest


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
        details = jcs(json.loads(details_json))  # the stored text may not be canonical: a forgery
        return hashlib.sha256(_hashed(prev_hash, seq, ts, kind, level, source, details)).hexdigest()
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
