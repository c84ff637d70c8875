"""The sealed envelope every uplink batch and downlink command travels in.

Byte layout (big-endian; documented in docs/MQTT.md):

    magic  "SB"      2      version   1      cipher  1 (1 AES-256-GCM, 2 SM4-GCM)
    flags  1 (bit 0 zlib-compressed, bit 1 historical)     stream  1
    box id length 1, box id UTF-8      key id 4      first seq 8      last seq 8
    nonce 12         ciphertext + 16-byte GCM tag

The whole header is the associated data, so box, stream, sequence range and key id cannot be
changed without the tag failing. Per-cipher keys are derived from the 256-bit sync key with
HKDF-SHA256, so AES and SM4 never share key material.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from box.core.errors import SafetyBoxError

MAGIC = b"SB"
VERSION = 1
TAG_BYTES = 16
NONCE_BYTES = 12
FLAG_COMPRESSED = 1
FLAG_HISTORICAL = 2
_FIXED = struct.Struct(">2sBBBB")
_RANGE = struct.Struct(">4sQQ12s")


class CipherId(IntEnum):
    AES_256_GCM = 1
    SM4_GCM = 2


CIPHER_NAMES = {"aes-256-gcm": CipherId.AES_256_GCM, "sm4-gcm": CipherId.SM4_GCM}


class Stream(IntEnum):
    EVENTS = 1
    READINGS = 2
    SNAPSHOTS = 3
    RECORDS = 4  # positions, detections and plug-ins' record types
    COMMAND = 16  # downlink
    REPLY = 17  # box's answer to a command


class EnvelopeError(SafetyBoxError, ValueError):
    """An envelope is malformed, sealed under an unknown key, or fails authentication."""


@dataclass(frozen=True)
class Header:
    cipher: CipherId
    flags: int
    stream: Stream
    box_id: str
    key_id: bytes  # 4 bytes
    first_seq: int
    last_seq: int
    nonce: bytes

    def pack(self) -> bytes:
        box = self.box_id.encode("utf-8")
        if len(box) > 255:
            raise EnvelopeError("box id longer than 255 bytes")
        return (
            _FIXED.pack(MAGIC, VERSION, self.cipher, self.flags, self.stream)
            + bytes([len(box)])
            + box
            + _RANGE.pack(self.key_id, self.first_seq, self.last_seq, self.nonce)
        )

    @property
    def historical(self) -> bool:
        return bool(self.flags & FLAG_HISTORICAL)


def derive_key(sync_key: bytes, cipher: CipherId) -> bytes:
    length = 32 if cipher == CipherId.AES_256_GCM else 16
    info = b"safetybox v1 " + cipher.name.encode()
    return HKDF(hashes.SHA256(), length, salt=None, info=info).derive(sync_key)


def key_id_bytes(sync_key: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(sync_key).digest()[:4]


def _encrypt(cipher: CipherId, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if cipher == CipherId.AES_256_GCM:
        return AESGCM(key).encrypt(nonce, data, aad)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


def _decrypt(cipher: CipherId, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if cipher == CipherId.AES_256_GCM:
        return AESGCM(key).decrypt(nonce, data, aad)
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(body) + dec.finalize()


def seal(header: Header, plaintext: bytes, sync_key: bytes, compress: bool = True) -> bytes:
    if len(header.nonce) != NONCE_BYTES:
        raise EnvelopeError(f"nonce must be {NONCE_BYTES} bytes")
    if compress:
        plaintext = zlib.compress(plaintext, 6)
        header = Header(**{**header.__dict__, "flags": header.flags | FLAG_COMPRESSED})
    aad = header.pack()
    return aad + _encrypt(
        header.cipher, derive_key(sync_key, header.cipher), header.nonce, plaintext, aad
    )


def parse_header(data: bytes) -> tuple[Header, int]:
    """The header and the offset of the ciphertext; raises EnvelopeError on any malformation."""
    try:
        magic, version, cipher, flags, stream = _FIXED.unpack_from(data, 0)
        if magic != MAGIC:
            raise EnvelopeError("not a SafetyBox envelope (bad magic)")
        if version != VERSION:
            raise EnvelopeError(f"envelope version {version} is not supported (expected {VERSION})")
        n = data[_FIXED.size]
        start = _FIXED.size + 1
        box_id = data[start : start + n].decode("utf-8")
        key_id, first, last, nonce = _RANGE.unpack_from(data, start + n)
        header = Header(CipherId(cipher), flags, Stream(stream), box_id, key_id, first, last, nonce)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, EnvelopeError):
            raise
        raise EnvelopeError(f"malformed envelope header: {exc}") from None
    offset = start + n + _RANGE.size
    if len(data) < offset + TAG_BYTES:
        raise EnvelopeError("envelope too short for its tag")
    return header, offset


def open_envelope(data: bytes, keys: dict[bytes, bytes]) -> tuple[Header, bytes]:
    """Verify and decrypt; ``keys`` maps key id -> sync key. Returns header and plaintext."""
    header, offset = parse_header(data)
    key = keys.get(header.key_id)
    if key is None:
        raise EnvelopeError(f"envelope sealed with unknown key id {header.key_id.hex()}")
    try:
        plain = _decrypt(
            header.cipher,
            derive_key(key, header.cipher),
            header.nonce,
            data[offset:],
            data[:offset],
        )
    except InvalidTag:
        raise EnvelopeError("authentication failed: tampered, or sealed with another key") from None
    if header.flags & FLAG_COMPRESSED:
        try:
            plain = zlib.decompress(plain)
        except zlib.error as exc:
            raise EnvelopeError(f"bad compressed payload: {exc}") from None
    return header, plain
