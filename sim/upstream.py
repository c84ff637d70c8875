"""A reference consumer of the box's MQTT feed: subscribes, verifies, decrypts, de-duplicates,
detects gaps and reordering, and writes JSON lines. The test oracle, and a starting point for
integrators (``safetybox consume``).
"""

from __future__ import annotations

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
from paho.mqtt.enums import CallbackAPIVersion

from box.sync.envelope import EnvelopeError, Stream, open_envelope

DAY_S = 86400.0


@dataclass
class StreamState:
    covered: int = 0  # every seq <= covered has been received
    ahead: dict[int, int] = field(default_factory=dict)  # first -> last of batches past a hole
    gaps: list[tuple[int, int]] = field(default_factory=list)
    reordered: int = 0


class Consumer:
    """Feed it raw envelopes with :meth:`handle`; it keeps per-stream sequence state."""

    def __init__(
        self,
        provisioning: dict[str, Any],
        grace_days: float = 7.0,
        out: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
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
        self.streams: dict[str, StreamState] = {}
        self.records = 0
        self.duplicates = 0
        self.rejected: list[str] = []
        self.seen_nonces: set[bytes] = set()
        self.status: dict[str, Any] = {}
        self.lock = threading.Lock()

    def _keys_now(self) -> dict[bytes, bytes]:
        now = self.clock()
        return {
            kid: key
            for kid, key in self.keys.items()
            if kid not in self.retired_at or now - self.retired_at[kid] <= self.grace_s
        }

    def handle(self, data: bytes) -> list[dict[str, Any]]:
        """Verify and decrypt one envelope; returns the new records (none for a duplicate)."""
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
            self.seen_nonces.add(header.nonce)
            payload = json.loads(plain)
            if (payload["first"], payload["last"]) != (header.first_seq, header.last_seq):
                self.rejected.append("payload range differs from the authenticated header")
                return []
            if header.stream == Stream.REPLY:
                return [self._emit({"stream": "reply", **payload})]
            return self._accept(payload)

    def _accept(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        st = self.streams.setdefault(p["stream"], StreamState())
        first, last = p["first"], p["last"]
        if last <= st.covered or st.ahead.get(first) == last:
            self.duplicates += 1
            return []
        already = st.covered  # records up to here were delivered by an earlier batch
        if first > st.covered + 1:
            st.ahead[first] = last  # a hole before this batch: reordered or lost, time will tell
        else:
            if first <= st.covered:
                self.duplicates += 1  # an overlapping resend: only its new tail counts
            if st.ahead:
                st.reordered += 1  # this batch filled a hole after later ones had arrived
            st.covered = last
            while st.covered + 1 in st.ahead:
                st.covered = st.ahead.pop(st.covered + 1)
        out = []
        if "evicted" in p:
            e = p["evicted"]
            st.gaps.append((e["from"], e["to"]))
            out.append(self._emit({"stream": p["stream"], "gap": e, "box": p["box"]}))
        for rec in self._records(p):
            if rec["seq"] > already:
                out.append(self._emit(rec))
        return out

    def _records(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        hist = p["historical"]
        if p["stream"] == "events":
            return [{"stream": "events", "historical": hist, **e} for e in p["events"]]
        if p["stream"] == "records":
            return [
                {
                    "stream": "records",
                    "seq": r[0],
                    "type": r[1],
                    "ts": r[2],
                    "key": r[3],
                    "data": r[4],
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
                "seq": p["last"],
                "channel": a[0],
                "from_ts": a[1],
                "to_ts": a[2],
                "min": a[3],
                "max": a[4],
                "mean": a[5],
                "last": a[6],
                "count": a[7],
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
        """Ranges not received (yet) per stream: what lies between covered and batches ahead."""
        out = {}
        for name, st in self.streams.items():
            ranges, pos = [], st.covered
            for f in sorted(st.ahead):
                ranges.append((pos + 1, f - 1))
                pos = st.ahead[f]
            if ranges:
                out[name] = ranges
        return out


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
    ) -> None:
        self.consumer = consumer
        base = f"{prefix}/{consumer.box_id}"
        # A persistent session (clean_session False, stable client id): what the broker
        # acknowledged to the box while this consumer was away is queued for it, not lost.
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"consumer-{consumer.box_id}",
            clean_session=False,
        )
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
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
            self.consumer.status = json.loads(msg.payload)
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
