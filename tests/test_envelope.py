"""Sealed envelopes: both ciphers round-trip; any change to header or body is rejected."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from box.keys import FileKeyProvider
from box.sync.envelope import (
    CipherId,
    EnvelopeError,
    Header,
    Stream,
    key_id_bytes,
    open_envelope,
    parse_header,
    seal,
)
from box.sync.keyring import SyncKeyring
from box.sync.nonce import NonceSource
from tests.conftest import run_cli

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def header(
    cipher: CipherId = CipherId.AES_256_GCM, nonce: bytes = b"\x00" * 11 + b"\x01", **kw: object
) -> Header:
    base = dict(
        cipher=cipher,
        flags=0,
        stream=Stream.READINGS,
        box_id="sb-1234",
        key_id=key_id_bytes(KEY),
        first_seq=10,
        last_seq=19,
        nonce=nonce,
    )
    base.update(kw)
    return Header(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("cipher", list(CipherId))
@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(cipher: CipherId, compress: bool) -> None:
    payload = json.dumps({"records": list(range(100))}).encode()
    env = seal(header(cipher), payload, KEY, compress)
    h, plain = open_envelope(env, {key_id_bytes(KEY): KEY})
    assert plain == payload
    assert (h.box_id, h.stream, h.first_seq, h.last_seq, h.cipher) == (
        "sb-1234",
        Stream.READINGS,
        10,
        19,
        cipher,
    )
    assert payload not in env, "the payload is not readable on the wire"


def test_sm4_gcm_is_the_real_cipher() -> None:
    """The SM4 path really is SM4: a GB/T 32907 known-answer test on the primitive we use."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(k), modes.ECB()).encryptor()  # noqa: S305 - a single-block KAT
    assert (enc.update(k) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


@pytest.mark.parametrize("cipher", list(CipherId))
def test_every_header_byte_and_the_body_are_authenticated(cipher: CipherId) -> None:
    env = seal(header(cipher), b"hello world" * 10, KEY)
    keys = {key_id_bytes(KEY): KEY}
    _, offset = parse_header(env)
    for i in list(range(offset)) + [offset, len(env) - 1]:
        tampered = bytearray(env)
        tampered[i] ^= 0x01
        with pytest.raises(EnvelopeError):
            open_envelope(bytes(tampered), keys)


def test_wrong_key_and_unknown_key_id() -> None:
    env = seal(header(), b"x", KEY)
    with pytest.raises(EnvelopeError, match="authentication failed"):
        open_envelope(env, {key_id_bytes(KEY): OTHER})
    with pytest.raises(EnvelopeError, match="unknown key id"):
        open_envelope(env, {key_id_bytes(OTHER): OTHER})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "malformed"),
        (b"XX\x01\x01\x00\x02", "bad magic"),
        (b"SB\x09\x01\x00\x02\x00", "version 9"),
        (b"SB\x01\x01\x00\x02\x05ab", "malformed"),
        (b"SB\x01\x07\x00\x02", "malformed"),
    ],
)
def test_garbage_is_rejected_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        open_envelope(data, {key_id_bytes(KEY): KEY})


def test_nonces_never_repeat_within_and_across_boots() -> None:
    first, second = NonceSource(1), NonceSource(2)  # two runs of the box
    seen = {first.next() for _ in range(1000)} | {second.next() for _ in range(1000)}
    assert len(seen) == 2000, "counters restart each boot; the boot prefix keeps them apart"
    a, b = NonceSource(7), NonceSource(8)
    assert {a.next() for _ in range(500)}.isdisjoint({b.next() for _ in range(500)})
    with pytest.raises(ValueError, match="out of range"):
        NonceSource(0)


def test_rotate_keeps_the_old_key_for_the_grace_period_and_exports(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    ring = SyncKeyring(FileKeyProvider(home / "keys"))
    old_id, old_key = ring.current()
    assert ring.rotate(now=1_800_000_000) == (old_id, ring.current()[0])
    new_id, new_key = ring.current()
    assert new_id != old_id and new_key != old_key
    (retired,) = ring.retired()
    assert (retired.key_id, retired.key, retired.retired_at) == (old_id, old_key, 1_800_000_000)
    exported = ring.export("sb-x", "sm4-gcm")
    assert [k["key_id"] for k in exported["sync_keys"]] == [new_id, old_id]
    assert exported["downlink_key"] == ring.downlink().hex()
    for path in (home / "keys").rglob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(home / "keys" / "sync.key", 0o644)
    with pytest.raises(Exception, match="chmod 600"):
        ring.current()
