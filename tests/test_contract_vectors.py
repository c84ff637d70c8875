"""docs/MQTT.md's test vectors: checked against the box's code and against the independent
decoder written from the document; the document shows exactly the committed vectors and names
every reply code the box can send."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from box.sync.envelope import (
    CipherId,
    Header,
    Stream,
    derive_key,
    key_id_bytes,
    open_envelope,
    seal,
)
from tests import independent_decoder as indep

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "docs" / "vectors" / "envelopes.json").read_text())
CASES = [*VECTORS["batches"], VECTORS["command"], VECTORS["reply"]]


@pytest.mark.parametrize("v", CASES, ids=lambda v: f"{v['cipher']}-stream{v['stream']}")
def test_each_sealed_vector_matches_the_code(v: dict) -> None:
    key, env = bytes.fromhex(v["key"]), bytes.fromhex(v["envelope"])
    cipher = CipherId(1 if v["cipher"] == "aes-256-gcm" else 2)
    assert key_id_bytes(key).hex() == v["key_id"]
    assert derive_key(key, cipher).hex() == v["cipher_key"]
    assert env.hex().startswith(v["header"])
    header, plain = open_envelope(env, {key_id_bytes(key): key})
    assert plain.decode() == v["plaintext"]
    assert (header.first_seq, header.last_seq, header.nonce.hex()) == (
        v["first"], v["last"], v["nonce"],
    )  # fmt: skip
    if not v["flags"] & 1:  # uncompressed: sealing the inputs gives exactly these bytes
        h = Header(cipher, v["flags"], Stream(v["stream"]), v["box_id"], key_id_bytes(key),
                   v["first"], v["last"], bytes.fromhex(v["nonce"]))  # fmt: skip
        assert seal(h, v["plaintext"].encode(), key, compress=False) == env


@pytest.mark.parametrize("v", CASES, ids=lambda v: f"{v['cipher']}-stream{v['stream']}")
def test_each_sealed_vector_opens_with_the_independent_decoder(v: dict) -> None:
    env = indep.open_envelope(bytes.fromhex(v["envelope"]), [bytes.fromhex(v["key"])])
    assert env.payload == json.loads(v["plaintext"])
    assert env.header.hex() == v["header"]
    assert indep.cipher_key(bytes.fromhex(v["key"]), env.cipher).hex() == v["cipher_key"]
    tampered = bytearray(bytes.fromhex(v["envelope"]))
    tampered[5] ^= 0x03  # the stream byte is authenticated
    with pytest.raises(indep.Rejected, match="authentication failed"):
        indep.open_envelope(bytes(tampered), [bytes.fromhex(v["key"])])


def test_the_event_chain_in_the_vectors_verifies_independently() -> None:
    feed = indep.Feed(
        VECTORS["batches"][2]["box_id"], [bytes.fromhex(VECTORS["batches"][2]["key"])]
    )
    feed.handle(bytes.fromhex(VECTORS["batches"][2]["envelope"]))
    assert sorted(feed.events) == [1, 2, 3] and feed.verify_chain() == []
    chain = json.loads((ROOT / "docs" / "vectors" / "event_chain.json").read_text())
    assert [feed.events[e["seq"]]["hash"] for e in chain["events"]] == [
        e["hash"] for e in chain["events"]
    ]


def test_the_document_shows_the_committed_vectors() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "contract-vectors"), "--check"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_the_document_names_every_reply_code() -> None:
    source = (ROOT / "box" / "sync" / "downlink.py").read_text()
    codes = set(re.findall(r'CommandRejected\(\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'_rejected\(seq, "([a-z_]+)"', source)) | {"ok"}
    doc = (ROOT / "docs" / "MQTT.md").read_text()
    table = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    assert codes and codes <= table, f"undocumented: {codes - table}"


def test_the_independent_decoder_imports_nothing_of_the_box() -> None:
    source = Path(indep.__file__).read_text()
    assert not re.search(r"^\s*(from|import)\s+(box|sim)\b", source, re.M)
