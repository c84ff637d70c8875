"""A second decoder of the box's feed, written from docs/MQTT.md alone: it imports nothing of
the box (``box``, ``sim``), only ``cryptography``, ``rfc8785`` and the standard library, so it
checks that the document is enough to implement a platform, and that the box does what the
document says."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CIPHERS = {1: ("AES_256_GCM", 32), 2: ("SM4_GCM", 16)}  # doc section 2
STREAMS = {1: "events", 2: "readings", 4: "records", 16: "command", 17: "reply"}
GENESIS = "0" * 64


class Rejected(ValueError):
    pass


@dataclass
class Envelope:
    cipher: int
    flags: int
    stream: int
    box_id: str
    key_id: bytes
    first: int
    last: int
    nonce: bytes
    header: bytes
    payload: dict[str, Any]


def cipher_key(key: bytes, cipher: int) -> bytes:
    name, length = CIPHERS[cipher]
    return HKDF(hashes.SHA256(), length, salt=None, info=b"safetybox v1 " + name.encode()).derive(
        key
    )


def open_envelope(data: bytes, keys: list[bytes]) -> Envelope:
    """Parse, authenticate, decrypt and decode one envelope (doc section 2)."""
    if len(data) < 7 or data[:2] != b"SB" or data[2] != 1:
        raise Rejected("not a version 1 SafetyBox envelope")
    cipher, flags, stream, n = data[3], data[4], data[5], data[6]
    if cipher not in CIPHERS:
        raise Rejected(f"unknown cipher {cipher}")
    end = 39 + n
    if len(data) < end + 16:
        raise Rejected("too short")
    box_id = data[7 : 7 + n].decode("utf-8")
    key_id = data[7 + n : 11 + n]
    first, last = struct.unpack(">QQ", data[11 + n : 27 + n])
    nonce = data[27 + n : end]
    header, body = data[:end], data[end:]
    key = next((k for k in keys if hashlib.sha256(k).digest()[:4] == key_id), None)
    if key is None:
        raise Rejected("unknown key id")
    ck = cipher_key(key, cipher)
    try:
        if cipher == 1:
            plain = AESGCM(ck).decrypt(nonce, body, header)
        else:
            dec = Cipher(algorithms.SM4(ck), modes.GCM(nonce, body[-16:])).decryptor()
            dec.authenticate_additional_data(header)
            plain = dec.update(body[:-16]) + dec.finalize()
    except Exception as exc:  # InvalidTag
        raise Rejected("authentication failed") from exc
    if flags & 1:
        plain = zlib.decompress(plain)
    payload = json.loads(plain.decode("utf-8"))
    if stream != 16 and (payload.get("first"), payload.get("last")) != (first, last):
        raise Rejected("payload range differs from the header")
    return Envelope(cipher, flags, stream, box_id, key_id, first, last, nonce, header, payload)


def event_hash(ev: dict[str, Any]) -> str:
    """Hash version 2 (doc section 5.1)."""
    members = ("details", "kind", "level", "prev_hash", "seq", "source", "ts")
    return hashlib.sha256(rfc8785.dumps({k: ev[k] for k in members})).hexdigest()


@dataclass
class Feed:
    """One box's feed, de-duplicated per row (doc section 4)."""

    box_id: str
    keys: list[bytes]
    received: dict[str, set[int]] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    readings: dict[int, list[Any]] = field(default_factory=dict)
    buckets: dict[tuple[str, int, int], list[Any]] = field(default_factory=dict)
    evicted: dict[str, set[int]] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    ciphers: set[int] = field(default_factory=set)
    rejected: list[str] = field(default_factory=list)

    def handle(self, data: bytes) -> None:
        try:
            env = open_envelope(data, self.keys)
        except Rejected as exc:
            self.rejected.append(str(exc))
            return
        if env.box_id != self.box_id or env.payload.get("v") != 1:
            self.rejected.append("another box or version")
            return
        self.ciphers.add(env.cipher)
        p = env.payload
        if env.stream == 17:
            self.replies.append(p)
            return
        name = STREAMS.get(env.stream)
        if name is None:
            return  # unknown streams are ignored
        have = self.received.setdefault(name, set())
        gone: set[int] = set()
        if "evicted" in p:
            e = p["evicted"]
            assert e["count"] == e["to"] - e["from"] + 1
            gone = set(range(e["from"], e["to"] + 1))
            self.evicted.setdefault(name, set()).update(gone - have)
        if name == "events":
            for ev in p["events"]:
                if ev["seq"] not in have:
                    self.events[ev["seq"]] = ev
        elif name == "readings":
            for row in p["readings"]:
                if row[0] not in have:
                    self.readings[row[0]] = row
            for a in p["aggregates"]:
                key = (a[0], a[1], a[2])
                if key not in self.buckets or a[7] > self.buckets[key][7]:
                    self.buckets[key] = a
        have.update(set(range(env.first, env.last + 1)) - gone)

    def verify_chain(self) -> list[str]:
        """Problems found in the events received: broken links or hashes (v2)."""
        problems = []
        seqs = sorted(self.events)
        for s in seqs:
            ev = self.events[s]
            if s == 1 and ev["prev_hash"] != GENESIS:
                problems.append("seq 1 does not start from the genesis value")
            prev = self.events.get(s - 1)
            if prev is not None and ev["prev_hash"] != prev["hash"]:
                problems.append(f"seq {s}: prev_hash is not the hash of seq {s - 1}")
            if ev["hash_v"] == 2 and event_hash(ev) != ev["hash"]:
                problems.append(f"seq {s}: hash does not match the content")
        return problems


def seal_command(
    box_id: str, downlink_key: bytes, cipher: int, seq: int, body: dict[str, Any], nonce: bytes
) -> bytes:
    """A command envelope as doc section 6 describes it (stream 16, first = last = seq)."""
    box = box_id.encode("utf-8")
    header = (
        b"SB"
        + bytes([1, cipher, 0, 16, len(box)])
        + box
        + hashlib.sha256(downlink_key).digest()[:4]
        + struct.pack(">QQ", seq, seq)
        + nonce
    )
    plain = json.dumps(body).encode("utf-8")
    ck = cipher_key(downlink_key, cipher)
    if cipher == 1:
        return header + AESGCM(ck).encrypt(nonce, plain, header)
    enc = Cipher(algorithms.SM4(ck), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(header)
    return header + enc.update(plain) + enc.finalize() + enc.tag
