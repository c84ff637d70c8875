"""A fleet of lightweight simulated boxes for tests and the bench: real keys, real envelopes
sealed by box.sync's own code, payloads shaped as the box's outbox shapes them, event hash
chains made by the box store's recipe; outages with backfill, and retention evictions named in
``evicted`` as a box names them. Each box knows exactly which rows it sent and which it
evicted, so a test can demand that every row landed once and that the only gaps are those.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from box.store.events import GENESIS_HASH, canonical_details, event_hash
from box.sync.envelope import (
    CIPHER_NAMES,
    FLAG_HISTORICAL,
    Header,
    Stream,
    key_id_bytes,
    seal,
)
from box.sync.keyring import EXPORT_FORMAT
from box.sync.nonce import NonceSource

QUALITY = ("good", "good", "good", "good", "uncertain", "bad")


@dataclass
class SimBox:
    box_id: str
    cipher: str = "aes-256-gcm"
    channels: int = 4
    prefix: str = "safetybox"
    rng: random.Random = field(default_factory=random.Random)
    sync_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    downlink_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    retired: list[tuple[bytes, float]] = field(default_factory=list)
    readings_seq: int = 0
    events_seq: int = 0
    records_seq: int = 0
    prev_hash: str = GENESIS_HASH
    sent_cursor: dict[str, int] = field(
        default_factory=lambda: {"readings": 0, "events": 0, "records": 0}
    )
    pending: dict[str, list[Any]] = field(
        default_factory=lambda: {"readings": [], "events": [], "records": []}
    )
    evicted: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: {"readings": []})
    sent_rows: dict[str, set[int]] = field(
        default_factory=lambda: {"readings": set(), "events": set(), "records": set()}
    )
    aggregates: int = 0

    def __post_init__(self) -> None:
        self.nonces = NonceSource(1)

    # -- keys --------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """What ``safetybox keys export`` writes for this box."""
        keys: list[dict[str, Any]] = [
            {
                "key_id": key_id_bytes(self.sync_key).hex(),
                "key": self.sync_key.hex(),
                "retired_at": None,
            }
        ]
        keys += [
            {"key_id": key_id_bytes(k).hex(), "key": k.hex(), "retired_at": at}
            for k, at in self.retired
        ]
        return {
            "format": EXPORT_FORMAT,
            "box_id": self.box_id,
            "cipher": self.cipher,
            "sync_keys": keys,
            "downlink_key": self.downlink_key.hex(),
        }

    def rotate(self, now: float | None = None) -> None:
        self.retired.append((self.sync_key, time.time() if now is None else now))
        self.sync_key = secrets.token_bytes(32)

    # -- data --------------------------------------------------------------------------------

    def sample(self, ts_ms: int) -> None:
        """One scan: a reading per channel; now and then an event or a position."""
        for ch in range(self.channels):
            self.readings_seq += 1
            value = None if self.rng.random() < 0.01 else round(self.rng.uniform(0, 100), 3)
            self.pending["readings"].append(
                [self.readings_seq, f"ch{ch}.lel", ts_ms, value, self.rng.choice(QUALITY)]
            )
        if self.rng.random() < 0.05:
            self._event(ts_ms)
        if self.rng.random() < 0.05:
            self.records_seq += 1
            self.pending["records"].append(
                [
                    self.records_seq,
                    "position",
                    ts_ms,
                    "tag-1",
                    {
                        "tag": "tag-1",
                        "ts_ms": ts_ms,
                        "x": self.rng.uniform(0, 50),
                        "y": self.rng.uniform(0, 50),
                        "z": 0.0,
                        "accuracy_m": 0.3,
                        "quality": 0,
                        "source": "uwb",
                    },
                ]
            )

    def _event(self, ts_ms: int) -> None:
        self.events_seq += 1
        seq = self.events_seq
        details = {
            "alarm": "ch0.lel:A1",
            "name": "A1",
            "level": 2,
            "value": 27.5,
            "state": "active_unacked",
            "note": "Ströme ≥ 25 %LEL",
        }
        kind, level, source = "alarm_raised", 2, "ch0.lel"
        h = event_hash(self.prev_hash, seq, ts_ms, kind, level, source, canonical_details(details))
        self.pending["events"].append(
            {
                "seq": seq,
                "ts": ts_ms,
                "kind": kind,
                "level": level,
                "source": source,
                "details": details,
                "prev_hash": self.prev_hash,
                "hash": h,
                "hash_v": 2,
            }
        )
        self.prev_hash = h

    def evict_oldest(self, rows: int) -> None:
        """Retention removed the oldest unsent readings before they could be sent."""
        drop = self.pending["readings"][:rows]
        if drop:
            del self.pending["readings"][:rows]
            self.evicted["readings"].append((drop[0][0], drop[-1][0]))

    # -- batches -----------------------------------------------------------------------------

    def batches(self, max_rows: int, historical: bool = False) -> Iterator[tuple[str, bytes]]:
        """Everything pending as sealed envelopes, in the outbox's order (events, records,
        readings), each stream's ranges tiling its sequence."""
        for stream in ("events", "records", "readings"):
            rows = self.pending[stream]
            while rows or (stream == "readings" and self._unsent_eviction()):
                chunk, rows = rows[:max_rows], rows[max_rows:]
                self.pending[stream] = rows
                yield self._seal(stream, chunk, historical)

    def _unsent_eviction(self) -> bool:
        ev = self.evicted["readings"]
        return bool(ev) and ev[-1][1] > self.sent_cursor["readings"]

    def _seal(self, stream: str, chunk: list[Any], historical: bool) -> tuple[str, bytes]:
        first = self.sent_cursor[stream] + 1
        last = (chunk[-1]["seq"] if stream == "events" else chunk[-1][0]) if chunk else None
        if last is None:  # an eviction with no rows after it (yet)
            last = self.evicted["readings"][-1][1]
        payload: dict[str, Any] = {
            "v": 1,
            "box": self.box_id,
            "stream": stream,
            "first": first,
            "last": last,
            "historical": historical,
            "sent_ms": int(time.time() * 1000),
        }
        lowest = (chunk[0]["seq"] if stream == "events" else chunk[0][0]) if chunk else last + 1
        if lowest > first:
            payload["evicted"] = {"from": first, "to": lowest - 1, "count": lowest - first}
        if stream == "events":
            payload["events"] = chunk
        elif stream == "records":
            payload["records"] = chunk
        else:
            payload["readings"] = chunk
            payload["aggregates"] = self._aggregate(chunk)
            payload["channels"] = {
                f"ch{c}.lel": {"unit": "%LEL", "kind": "gas_lel", "codes": {}}
                for c in range(self.channels)
            }
        for row in chunk:
            self.sent_rows[stream].add(row["seq"] if stream == "events" else row[0])
        self.sent_cursor[stream] = last
        sid = {"events": Stream.EVENTS, "records": Stream.RECORDS, "readings": Stream.READINGS}
        header = Header(
            CIPHER_NAMES[self.cipher],
            FLAG_HISTORICAL if historical else 0,
            sid[stream],
            self.box_id,
            key_id_bytes(self.sync_key),
            first,
            last,
            self.nonces.next(),
        )
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{self.prefix}/{self.box_id}/up/{stream}", seal(header, body, self.sync_key)

    def _aggregate(self, chunk: list[Any]) -> list[list[Any]]:
        """One aggregated channel per box (upstream = "aggregate"), per minute."""
        vals = [r for r in chunk if r[1] == "ch0.lel" and r[3] is not None]
        if not vals:
            return []
        self.aggregates += 1
        v = [r[3] for r in vals]
        start = vals[0][2] // 60000 * 60000
        return [["ch0.avg", start, start + 60000, min(v), max(v), sum(v) / len(v), v[-1], len(v)]]

    def reply(self, seq: int, accepted: bool, reason: str = "") -> tuple[str, bytes]:
        body = {
            "v": 1,
            "box": self.box_id,
            "stream": "reply",
            "first": seq,
            "last": seq,
            "seq": seq,
            "accepted": accepted,
            "code": "ok" if accepted else "refused",
            "reason": reason,
            "result": None,
            "ts": int(time.time() * 1000),
        }
        header = Header(
            CIPHER_NAMES[self.cipher],
            0,
            Stream.REPLY,
            self.box_id,
            key_id_bytes(self.sync_key),
            seq,
            seq,
            self.nonces.next(),
        )
        return f"{self.prefix}/{self.box_id}/up/reply", seal(
            header, json.dumps(body).encode(), self.sync_key
        )

    def expected(self) -> dict[str, set[int]]:
        return {k: set(v) for k, v in self.sent_rows.items()}


def make_fleet(n: int, seed: int = 1, channels: int = 4, prefix: str = "safetybox") -> list[SimBox]:
    rng = random.Random(seed)
    return [
        SimBox(
            f"sb-fleet-{i:04d}",
            "sm4-gcm" if i % 5 == 4 else "aes-256-gcm",
            channels,
            prefix,
            random.Random(rng.random()),
        )
        for i in range(n)
    ]


def scenario(
    fleet: list[SimBox],
    ticks: int,
    batch_rows: int,
    start_ms: int,
    tick_ms: int = 1000,
    outages: dict[int, tuple[int, int, int]] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Envelopes in publishing order. Every box scans once a tick and sends every
    ``batch_rows // channels`` ticks; ``outages``: box index -> (from tick, to tick, rows its
    retention evicts meanwhile); after an outage the backlog goes out as historical batches."""
    outages = outages or {}
    per_batch = max(1, batch_rows // max(1, fleet[0].channels))
    for t in range(ticks):
        ts = start_ms + t * tick_ms
        for i, box in enumerate(fleet):
            box.sample(ts)
            out = outages.get(i)
            if out and out[0] <= t < out[1]:
                if t == out[1] - 1 and out[2]:
                    box.evict_oldest(out[2])
                continue
            backlog = out is not None and t == out[1]
            if backlog or (t + i) % per_batch == per_batch - 1 or t == ticks - 1:
                yield from box.batches(batch_rows, historical=backlog)
    for box in fleet:  # whatever is left
        yield from box.batches(batch_rows)


class Publisher:
    """One MQTT connection publishing many boxes' envelopes at QoS 1 (boxes behind one
    gateway; each envelope is still sealed by its own box)."""

    def __init__(self, host: str, port: int, client_id: str = "fleet-sim") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port, 30)
        self.client.loop_start()

    def publish(self, envelopes: list[tuple[str, bytes]], rate_per_s: float | None = None) -> None:
        """Publish and wait for every PUBACK; ``rate_per_s`` paces envelopes per second."""
        infos = []
        t0 = time.monotonic()
        for n, (topic, data) in enumerate(envelopes):
            if rate_per_s:
                delay = t0 + n / rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            infos.append(self.client.publish(topic, data, qos=1))
        for info in infos:
            info.wait_for_publish(60)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
