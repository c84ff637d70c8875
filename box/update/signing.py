"""Ed25519 keys and signatures for update bundles.

The private key stays with whoever builds releases (``firmware_tools/bundle.py keygen``); the
public key is installed on each box at provisioning (``safetybox update trust``), in
``keys/update-signing.pub``. Keys are PEM files so standard tools can inspect them.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from box.core.errors import SafetyBoxError

TRUSTED_KEY_NAME = "update-signing.pub"


class UpdateRefused(SafetyBoxError):
    """A bundle that must not be installed; the message says why."""


def new_key_pair() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a fresh Ed25519 key."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SafetyBoxError(f"{path} is not an Ed25519 private key")
    return key


def load_public(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise UpdateRefused(f"{source} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UpdateRefused(f"{source} is not an Ed25519 public key")
    return key


def verify(public: Ed25519PublicKey, signature: bytes, data: bytes) -> None:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        raise UpdateRefused(
            "the bundle's signature does not match its manifest under the trusted key "
            "(tampered, or signed with another key)"
        ) from None
