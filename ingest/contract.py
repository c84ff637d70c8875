"""Everything the ingest service knows of the box's upstream contract (docs/MQTT.md), in one
place: opening an envelope, reading a payload into rows, the event hash recipe, sealing a
command. When the contract changes, this module is what changes.

The cryptography is box.sync.envelope's own code, so box and platform cannot drift apart.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from box.store.events import (
    GENESIS_HASH,
    HASH_V,
    HASH_V_LEGACY,
    canonical_details,
    event_hash,
)
from box.sync.envelope import (
    CIPHER_NAMES,
    EnvelopeError,
    Header,
    Stream,
    key_id_bytes,
    open_envelope,
    parse_header,
    seal,
)

__all__ = [
    "GENESIS_HASH",
    "Batch",
    "ContractError",
    "EnvelopeError",
    "Header",
    "Stream",
    "chain_hash",
    "decode",
    "peek",
    "seal_command",
    "topic_filter",
]

PAYLOAD_VERSION = 1
STREAM_NAMES = {Stream.EVENTS: "events", Stream.READINGS: "readings", Stream.RECORDS: "records"}
QUALITIES = frozenset({"good", "uncertain", "bad", "stale"})


class ContractError(ValueError):
    """An authenticated payload that does not follow the contract (names what is wrong)."""


def topic_filter(prefix: str, group: str | None) -> str:
    """The uplink subscription; ``$share/GROUP/`` splits it between the group's workers."""
    base = f"{prefix}/+/up/#"
    return f"$share/{group}/{base}" if group else base


def status_filter(prefix: str) -> str:
    return f"{prefix}/+/status"


def down_topic(prefix: str, box_id: str) -> str:
    return f"{prefix}/{box_id}/down"


@dataclass
class Batch:
    """One verified, decrypted uplink envelope, read into rows."""

    header: Header
    stream: str  # events / readings / records / reply
    first: int
    last: int
    historical: bool
    sent_ms: int | None
    readings: list[tuple[int, str, int, float | None, str]] = field(default_factory=list)
    aggregates: list[tuple[str, int, int, float, float, float, float, int]] = field(
        default_factory=list
    )
    events: list[dict[str, Any]] = field(default_factory=list)
    records: list[tuple[int, str, int, str, Any]] = field(default_factory=list)
    evicted: tuple[int, int, int] | None = None  # from, to, count
    reply: dict[str, Any] | None = None

    @property
    def box_id(self) -> str:
        return self.header.box_id

    @property
    def rows(self) -> int:
        return len(self.readings) + len(self.aggregates) + len(self.events) + len(self.records)

    def timestamps(self) -> list[int]:
        return (
            [r[2] for r in self.readings]
            + [a[1] for a in self.aggregates]
            + [e["ts"] for e in self.events]
            + [r[2] for r in self.records]
        )


def peek(data: bytes) -> Header:
    """The header alone (unauthenticated): which box and key to look up. Raises EnvelopeError."""
    return parse_header(data)[0]


def decode(data: bytes, keys: dict[bytes, bytes]) -> Batch:
    """Verify, decrypt and read one uplink envelope. ``keys``: key id -> sync key accepted now.

    Raises EnvelopeError (not authentic) or ContractError (authentic but malformed).
    """
    header, plain = open_envelope(data, keys)
    try:
        p = json.loads(plain)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError(f"payload is not UTF-8 JSON: {exc}") from None
    if not isinstance(p, dict):
        raise ContractError("payload is not a JSON object")
    if header.stream == Stream.REPLY:
        if p.get("v", PAYLOAD_VERSION) != PAYLOAD_VERSION:  # boxes before v in replies: none
            raise ContractError(f"reply version {p.get('v')!r} is not supported")
        if p.get("seq") != header.first_seq:
            raise ContractError("reply seq differs from the authenticated header")
        return Batch(header, "reply", header.first_seq, header.last_seq, False, None, reply=p)
    if p.get("v") != PAYLOAD_VERSION:
        raise ContractError(f"payload version {p.get('v')!r} is not supported")
    name = STREAM_NAMES.get(header.stream)
    if name is None or p.get("stream") != name:
        raise ContractError(f"stream {header.stream.name} with payload stream {p.get('stream')!r}")
    if p.get("box") != header.box_id:
        raise ContractError("payload box differs from the authenticated header")
    if (p.get("first"), p.get("last")) != (header.first_seq, header.last_seq):
        raise ContractError("payload range differs from the authenticated header")
    if not 0 < header.first_seq <= header.last_seq:
        raise ContractError(f"bad sequence range {header.first_seq}..{header.last_seq}")
    b = Batch(
        header,
        name,
        header.first_seq,
        header.last_seq,
        bool(p.get("historical", header.historical)),
        p.get("sent_ms") if isinstance(p.get("sent_ms"), int) else None,
    )
    try:
        if name == "readings":
            b.readings = [_reading(r) for r in p.get("readings", [])]
            b.aggregates = [_aggregate(a) for a in p.get("aggregates", [])]
        elif name == "events":
            b.events = [_event(e) for e in p.get("events", [])]
        else:
            b.records = [_record(r) for r in p.get("records", [])]
        if "evicted" in p:
            e = p["evicted"]
            b.evicted = (_int(e["from"]), _int(e["to"]), _int(e["count"]))
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ContractError(f"malformed {name} payload: {exc!r}") from None
    seqs = [r[0] for r in b.readings] + [e["seq"] for e in b.events] + [r[0] for r in b.records]
    if any(not b.first <= s <= b.last for s in seqs):
        raise ContractError(f"a row's seq lies outside the batch range {b.first}..{b.last}")
    return b


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{v!r} is not an integer")
    return v


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{v!r} is not a finite number")
    return float(v)


def _reading(r: Any) -> tuple[int, str, int, float | None, str]:
    seq, ch, ts, value, q = r
    if q not in QUALITIES or not isinstance(ch, str):
        raise ValueError(f"bad reading {r!r}")
    return _int(seq), ch, _int(ts), _num(value), q


def _aggregate(a: Any) -> tuple[str, int, int, float, float, float, float, int]:
    ch, f, t, mn, mx, mean, last, count = a
    if not isinstance(ch, str):
        raise ValueError(f"bad aggregate {a!r}")
    vals = [_num(v) for v in (mn, mx, mean, last)]
    if any(v is None for v in vals):
        raise ValueError(f"aggregate with null statistics {a!r}")
    return (ch, _int(f), _int(t), *vals, _int(count))  # type: ignore[return-value]


def _event(e: Any) -> dict[str, Any]:
    if not isinstance(e, dict):
        raise ValueError("event is not an object")
    out = {
        "seq": _int(e["seq"]),
        "ts": _int(e["ts"]),
        "kind": str(e["kind"]),
        "level": _int(e["level"]),
        "source": str(e["source"]),
        "details": e["details"],
        "prev_hash": str(e["prev_hash"]),
        "hash": str(e["hash"]),
        # Absent in feeds from boxes older than the hash versions: those hashed version 1.
        "hash_v": _int(e.get("hash_v", HASH_V_LEGACY)),
    }
    if not isinstance(out["details"], dict):
        raise ValueError("event details is not an object")
    return out


def _record(r: Any) -> tuple[int, str, int, str, Any]:
    seq, kind, ts, key, data = r
    if not isinstance(kind, str):
        raise ValueError(f"bad record {r!r}")
    return _int(seq), kind, _int(ts), str(key), data


# The event hash recipe: the single place to change when the canonical form changes.
def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """The hash the box stores for ``event`` chained after ``prev_hash``, by its ``hash_v``:
    2 (RFC 8785 canonical JSON of the seven members), 1 (boxes from before that recipe)."""
    hv = event.get("hash_v", HASH_V_LEGACY)
    if hv == HASH_V:
        details = canonical_details(event["details"])
    elif hv == HASH_V_LEGACY:  # the details text as such a box stored it
        details = json.dumps(
            event["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    else:
        raise ContractError(f"event {event['seq']}: unknown hash_v {hv!r}")
    return event_hash(
        prev_hash,
        event["seq"],
        event["ts"],
        event["kind"],
        event["level"],
        event["source"],
        details,
        hash_v=hv,
    )


def check_chain(events: list[dict[str, Any]], prev: tuple[int, str] | None) -> str | None:
    """Why the events (ascending seq) do not chain, or None. ``prev``: (seq, hash) of a stored
    event before the first, when known. Links are checked between consecutive sequence numbers
    only: events a box keeps on site leave holes that are not breaks."""
    for e in events:
        if e["seq"] == 1 and e["prev_hash"] != GENESIS_HASH:
            return "event 1 does not start from the genesis hash"
        if prev is not None and prev[0] + 1 == e["seq"] and e["prev_hash"] != prev[1]:
            return f"event {e['seq']}: prev_hash does not match event {prev[0]}'s hash"
        try:
            expected = chain_hash(e["prev_hash"], e)
        except ContractError as exc:
            return str(exc)
        if expected != e["hash"]:
            return f"event {e['seq']}: content does not match its hash (altered)"
        prev = (e["seq"], e["hash"])
    return None


def seal_command(
    box_id: str,
    cipher: str,
    downlink_key: bytes,
    seq: int,
    cmd: str,
    args: dict[str, Any],
    who: str,
    ts_ms: int | None = None,
    nonce: Callable[[], bytes] = lambda: os.urandom(12),
) -> bytes:
    """A command envelope (stream 16, first = last = seq) sealed with the downlink key."""
    body = {
        "seq": seq,
        "ts": ts_ms if ts_ms is not None else int(time.time() * 1000),
        "cmd": cmd,
        "args": args,
        "who": who,
    }
    header = Header(
        CIPHER_NAMES[cipher],
        0,
        Stream.COMMAND,
        box_id,
        key_id_bytes(downlink_key),
        seq,
        seq,
        nonce(),
    )
    return seal(header, json.dumps(body).encode(), downlink_key)
