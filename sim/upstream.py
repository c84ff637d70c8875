"""A reference consumer of the box's MQTT feed (docs/MQTT.md): subscribes with a persistent
session, verifies, decrypts, de-duplicates per row by sequence, tells holes still to fill from
real losses, checks event hashes, keeps its state across restarts and writes JSON lines. The
test oracle, and a starting point for integrators (``safetybox consume``).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
import rfc8785
from paho.mqtt.enums import CallbackAPIVersion

from box.sync.envelope import EnvelopeError, Stream, open_envelope

DAY_S = 86400.0
STATE_FORMAT = "safetybox-consumer-state-v1"
NONCES_KEPT = 100_000  # replay guard across restarts (replays are harmless anyway: per-row)
BUCKETS_KEPT = 100_000  # aggregate buckets remembered for "larger count supersedes"


class Coverage:
    """Sorted, merged inclusive ranges of sequence numbers received (or known to be gone)."""

    def __init__(self, ranges: list[list[int]] | None = None) -> None:
        self.ranges: list[list[int]] = [list(r) for r in ranges or []]

    def __contains__(self, seq: int) -> bool:
        i = bisect.bisect_right(self.ranges, [seq, float("inf")]) - 1
        return i >= 0 and self.ranges[i][0] <= seq <= self.ranges[i][1]

    def add(self, first: int, last: int) -> None:
        merged: list[list[int]] = []
        placed = False
        for a, b in self.ranges:
            if b < first - 1:
                merged.append([a, b])
            elif a > last + 1:
                if not placed:
                    merged.append([first, last])
                    placed = True
                merged.append([a, b])
            else:
                first, last = min(a, first), max(b, last)
        if not placed:
            merged.append([first, last])
        merged.sort()
        self.ranges = merged

    def remove(self, first: int, last: int) -> None:
        kept: list[list[int]] = []
        for a, b in self.ranges:
            if b < first or a > last:
                kept.append([a, b])
                continue
            if a < first:
                kept.append([a, first - 1])
            if b > last:
                kept.append([last + 1, b])
        self.ranges = kept

    def union(self, other: Coverage) -> Coverage:
        both = Coverage(self.ranges)
        for a, b in other.ranges:
            both.add(a, b)
        return both

    def uncovered(self, first: int, last: int) -> list[tuple[int, int]]:
        """The parts of first..last not covered."""
        out, pos = [], first
        for a, b in self.ranges:
            if b < pos or a > last:
                continue
            if a > pos:
                out.append((pos, a - 1))
            pos = b + 1
        if pos <= last:
            out.append((pos, last))
        return out

    @property
    def contiguous(self) -> int:
        """Every seq 1..contiguous is covered."""
        return self.ranges[0][1] if self.ranges and self.ranges[0][0] == 1 else 0

    def missing(self) -> list[tuple[int, int]]:
        """Ranges not covered below the highest seq covered (from seq 1)."""
        out, pos = [], 0
        for a, b in self.ranges:
            if a > pos + 1:
                out.append((pos + 1, a - 1))
            pos = b
        return out


@dataclass
class StreamState:
    coverage: Coverage = field(default_factory=Coverage)  # seqs received (a row, or none by policy)
    lost: Coverage = field(default_factory=Coverage)  # ``evicted`` and never received: gone
    reordered: int = 0  # batches that arrived while an earlier range was still missing

    @property
    def covered(self) -> int:
        """Every seq 1..covered was received or is known to be gone."""
        return self.coverage.union(self.lost).contiguous

    @property
    def holes(self) -> list[tuple[int, int]]:
        """Ranges below the highest seq received that are neither received nor known gone."""
        return self.coverage.union(self.lost).missing()


class Consumer:
    """Feed it raw envelopes with :meth:`handle`. Per stream it keeps which sequence numbers
    it has (so every row is written once, whatever the order, duplication, overlap or split of
    batches), what the box said is gone (``evicted``), and, with ``state_path``, all of that
    across restarts (written atomically after each envelope, after the rows are flushed)."""

    def __init__(
        self,
        provisioning: dict[str, Any],
        grace_days: float = 7.0,
        out: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
        state_path: Path | None = None,
    ) -> None:
        self.box_id = provisioning["box_id"]
        self.keys: dict[bytes, bytes] = {}
        self.retired_at: dict[bytes, float] = {}
        for k in provisioning["sync_keys"]:
            key = bytes.fromhex(k["key"])
            kid = bytes.fromhex(k["key_id"])
            self.keys[kid] = key
            if k["retired_at"] is not None:
                self.retired_at[kid] = float(k["retired_at"])
        self.grace_s = grace_days * DAY_S
        self.out = out
        self.clock = clock
        self.state_path = state_path
        self.streams: dict[str, StreamState] = {}
        self.buckets: dict[tuple[str, int, int], int] = {}  # aggregate key -> count written
        self.dropped: list[dict[str, Any]] = []  # explicit gap records: rows never stored
        self.records = 0
        self.duplicates = 0  # rows received again (resends, redeliveries, overlaps)
        self.bad_hashes: list[int] = []  # event seqs whose hash does not match their content
        self.rejected: list[str] = []
        self.seen_nonces: dict[bytes, None] = {}  # insertion-ordered: oldest first
        self.status: dict[str, Any] = {}
        self.lock = threading.Lock()
        self._client_id = f"consumer-{self.box_id}-{os.urandom(4).hex()}"
        if state_path is not None and state_path.exists():
            self._load(state_path)

    # -- state across restarts --------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"consumer state {path} is unreadable: {exc}") from None
        if data.get("format") != STATE_FORMAT or data.get("box_id") != self.box_id:
            raise ValueError(
                f"consumer state {path} is not a state of box {self.box_id}: "
                "give each box its own state file"
            )
        for name, st in data["streams"].items():
            self.streams[name] = StreamState(
                Coverage(st["coverage"]), Coverage(st["lost"]), st.get("reordered", 0)
            )
        self.buckets = {(c, f, t): n for c, f, t, n in data.get("buckets", [])}
        self.dropped = data.get("dropped", [])
        self.seen_nonces = dict.fromkeys(bytes.fromhex(n) for n in data.get("nonces", []))
        self.records = data.get("records", 0)
        self.duplicates = data.get("duplicates", 0)
        self._client_id = data.get("client_id", self._client_id)

    def client_id(self) -> str:
        """Unique per consumer, and kept in the state file: the same session after a restart."""
        return self._client_id

    def save(self) -> None:
        if self.state_path is None:
            return
        if self.out is not None:
            # Rows first: a crash between the two can write one envelope's rows again at the
            # next start (it is redelivered: the PUBACK goes after this callback), never lose them.
            self.out.flush()
        data = {
            "format": STATE_FORMAT,
            "box_id": self.box_id,
            "client_id": self._client_id,
            "streams": {
                name: {
                    "coverage": st.coverage.ranges,
                    "lost": st.lost.ranges,
                    "reordered": st.reordered,
                }
                for name, st in self.streams.items()
            },
            "buckets": [
                [c, f, t, n] for (c, f, t), n in list(self.buckets.items())[-BUCKETS_KEPT:]
            ],
            "dropped": self.dropped,
            "nonces": [n.hex() for n in list(self.seen_nonces)[-NONCES_KEPT:]],
            "records": self.records,
            "duplicates": self.duplicates,
        }
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, self.state_path)

    # -- envelopes ----------------------------------------------------------------------------

    def _keys_now(self) -> dict[bytes, bytes]:
        now = self.clock()
        return {
            kid: key
            for kid, key in self.keys.items()
            if kid not in self.retired_at or now - self.retired_at[kid] <= self.grace_s
        }

    def handle(self, data: bytes) -> list[dict[str, Any]]:
        """Verify and decrypt one envelope; returns the records written (none for rows it
        already had)."""
        with self.lock:
            try:
                header, plain = open_envelope(data, self._keys_now())
            except EnvelopeError as exc:
                self.rejected.append(str(exc))
                return []
            if header.box_id != self.box_id:
                self.rejected.append(f"envelope for box {header.box_id}, expected {self.box_id}")
                return []
            if header.nonce in self.seen_nonces:
                self.rejected.append("replayed envelope (nonce seen before)")
                return []
            self.seen_nonces[header.nonce] = None
            if len(self.seen_nonces) > NONCES_KEPT:
                del self.seen_nonces[next(iter(self.seen_nonces))]
            try:
                payload = json.loads(plain)
            except ValueError as exc:
                self.rejected.append(f"payload is not JSON: {exc}")
                return []
            if not isinstance(payload, dict) or payload.get("v") != 1:
                self.rejected.append("payload is not a version 1 object")
                return []
            if (payload.get("first"), payload.get("last")) != (header.first_seq, header.last_seq):
                self.rejected.append("payload range differs from the authenticated header")
                return []
            if header.stream == Stream.REPLY:
                out = [self._emit({**payload, "stream": "reply"})]
            else:
                out = self._accept(payload)
            self.save()
            return out

    def _accept(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        name = p["stream"]
        st = self.streams.setdefault(name, StreamState())
        first, last = p["first"], p["last"]
        if st.coverage.missing() and first > st.covered + 1:
            st.reordered += 1
        out = []
        received = [(first, last)]
        if "evicted" in p:
            e = p["evicted"]
            received = [r for r in received if r[1] < e["from"] or r[0] > e["to"]]
            if first < e["from"]:
                received.append((first, e["from"] - 1))
            if last > e["to"]:
                received.append((e["to"] + 1, last))
            # Rows removed on the box after this consumer had them are no loss.
            gone = st.coverage.uncovered(e["from"], e["to"])
            new_gone = [g for g in gone if st.lost.uncovered(*g)]
            for g in gone:
                st.lost.add(*g)
            if new_gone:
                out.append(self._emit({"stream": name, "gap": e, "lost": gone, "box": p["box"]}))
        fresh = st.coverage.uncovered(first, last) == [(first, last)]  # the usual case
        for rec in self._records(p):
            if rec["stream"] == "aggregates":
                key = (rec["channel"], rec["from_ts"], rec["to_ts"])
                if rec["count"] > self.buckets.get(key, 0):  # the larger count is the bucket
                    self.buckets[key] = rec["count"]
                    out.append(self._emit(rec))
                continue
            if not fresh and rec["seq"] in st.coverage:
                self.duplicates += 1
                continue
            if rec["stream"] == "events":
                self._check_event(rec)
            out.append(self._emit(rec))
        for a, b in received:
            st.coverage.add(a, b)
            st.lost.remove(a, b)  # received after all (an earlier batch, delivered late)
        return out

    def _check_event(self, ev: dict[str, Any]) -> None:
        if ev.get("kind") == "gap" and (ev.get("details") or {}).get("reason") == "queue_full":
            self.dropped.append(ev["details"])  # readings the box could not even store
        if ev.get("hash_v") != 2:
            return  # version 1: Python-specific recipe, not checked here (docs/MQTT.md)
        hashed = {
            k: ev[k] for k in ("details", "kind", "level", "prev_hash", "seq", "source", "ts")
        }
        if hashlib.sha256(rfc8785.dumps(hashed)).hexdigest() != ev.get("hash"):
            self.bad_hashes.append(ev["seq"])

    def _records(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        hist = p["historical"]
        if p["stream"] == "events":
            return [{**e, "stream": "events", "historical": hist} for e in p["events"]]
        if p["stream"] == "records":
            return [
                {
                    "stream": "records",
                    "seq": r[0],
                    "type": r[1],
                    "ts": r[2],
                    "key": r[3],
                    "data": r[4],
                    "historical": hist,
                }
                for r in p["records"]
            ]
        chans = p.get("channels", {})
        recs = [
            {
                "stream": "readings",
                "seq": r[0],
                "channel": r[1],
                "ts": r[2],
                "value": r[3],
                "quality": r[4],
                "unit": chans.get(r[1], {}).get("unit"),
                "historical": hist,
            }
            for r in p["readings"]
        ]
        recs += [
            {
                "stream": "aggregates",
                "channel": a[0],
                "from_ts": a[1],
                "to_ts": a[2],
                "min": a[3],
                "max": a[4],
                "mean": a[5],
                "last": a[6],
                "count": a[7],
                "unit": chans.get(a[0], {}).get("unit"),
                "historical": hist,
            }
            for a in p.get("aggregates", [])
        ]
        return recs

    def _emit(self, rec: dict[str, Any]) -> dict[str, Any]:
        self.records += 1
        if self.out is not None:
            self.out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return rec

    def holes(self) -> dict[str, list[tuple[int, int]]]:
        """Ranges not received (yet) per stream, below the highest received: normal while a
        backfill or a resend is under way; a loss only where ``lost()`` says so."""
        return {
            n: m for n, st in self.streams.items() if (m := st.coverage.union(st.lost).missing())
        }

    def lost(self) -> dict[str, list[tuple[int, int]]]:
        """Ranges the box said are gone (``evicted``): the only sequence ranges that are losses."""
        return {
            n: [(a, b) for a, b in st.lost.ranges]
            for n, st in self.streams.items()
            if st.lost.ranges
        }


class MqttConsumer:
    """Subscribes to one box's uplink and status topics on a broker and feeds a Consumer."""

    def __init__(
        self,
        consumer: Consumer,
        host: str,
        port: int,
        prefix: str = "safetybox",
        ca_file: Path | None = None,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        self.consumer = consumer
        base = f"{prefix}/{consumer.box_id}"
        # A persistent session (clean_session False, a client id of its own): what the broker
        # acknowledged to the box while this consumer was away is queued for it, not lost.
        # Two consumers of one box need two ids, or the broker disconnects one for the other.
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or consumer.client_id(),
            clean_session=False,
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca_file or cert_file:
            self.client.tls_set(
                ca_certs=str(ca_file) if ca_file else None,
                certfile=str(cert_file) if cert_file else None,
                keyfile=str(key_file) if key_file else None,
            )
        self._base = base
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        # paho annotates the delays as int but sleeps for any float.
        self.client.reconnect_delay_set(0.2, 2)  # type: ignore[arg-type]
        self.client.connect_async(host, port, keepalive=30)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        client.subscribe(f"{self._base}/up/#", qos=1)
        client.subscribe(f"{self._base}/status", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/status"):
            try:
                self.consumer.status = json.loads(msg.payload)
            except ValueError:
                self.consumer.rejected.append("status is not JSON")
            return
        self.consumer.handle(bytes(msg.payload))

    def start(self) -> MqttConsumer:
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def seal_command(
    provisioning: dict[str, Any],
    seq: int,
    cmd: str,
    args: dict[str, Any],
    who: str = "platform",
    ts_ms: float | None = None,
    nonce: bytes | None = None,
    cipher: str | None = None,
    body: Any = None,
) -> bytes:
    """What an upstream platform sends: a command sealed with the box's downlink key.

    The nonce is 4 random bytes of this platform process and an 8-byte counter of envelopes it
    sealed (docs/MQTT.md): it never repeats, even when a rejected seq is sent again. ``body``
    replaces the whole JSON payload (for tests of malformed commands); ``cipher`` overrides the
    provisioned one."""
    from box.sync.envelope import CIPHER_NAMES, Header, key_id_bytes, seal

    key = bytes.fromhex(provisioning["downlink_key"])
    if body is None:
        body = {
            "seq": seq,
            "ts": ts_ms if ts_ms is not None else int(time.time() * 1000),
            "cmd": cmd,
            "args": args,
            "who": who,
        }
    header = Header(
        CIPHER_NAMES[cipher or provisioning["cipher"]],
        0,
        Stream.COMMAND,
        provisioning["box_id"],
        key_id_bytes(key),
        seq,
        seq,
        nonce if nonce is not None else _PLATFORM_ID + next(_SEALED).to_bytes(8, "big"),
    )
    return seal(header, json.dumps(body).encode(), key)


_PLATFORM_ID = os.urandom(4)  # per process: two platform processes never share nonces
_SEALED = itertools.count(1)
