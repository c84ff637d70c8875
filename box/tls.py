"""The web page's TLS certificate: made by ``safetybox init``, self-signed, for the box's names.

Browsers warn about a self-signed certificate once; the technician compares the SHA-256
fingerprint that ``init`` (and ``safetybox doctor``) print with the one the browser shows. A site
with its own CA sets ``web.cert_file``/``web.key_file`` instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from box.atomic import write_atomic

if TYPE_CHECKING:
    from cryptography import x509

# cryptography's X.509 layer (~7 MiB) is imported by the functions that make or read a
# certificate: the daemon and most commands only need the paths and an ssl context.

CERT_NAME = "web.crt"
KEY_NAME = "web-tls.key"  # not "web.key": key files named *.key hold 256-bit secrets
VALID_DAYS = 3650


def default_paths(keys_dir: Path) -> tuple[Path, Path]:
    return keys_dir / CERT_NAME, keys_dir / KEY_NAME


def ensure_certificate(keys_dir: Path, box_id: str) -> bool:
    """Create the key and self-signed certificate if absent; True if created. Never
    overwrites, so a browser that accepted the certificate keeps trusting it."""
    cert_path, key_path = default_paths(keys_dir)
    if cert_path.exists() and key_path.exists():
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    names: list[x509.GeneralName] = [
        x509.DNSName(n) for n in dict.fromkeys([host, f"{host}.local", box_id, "localhost"])
    ]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, box_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SafetyBox"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # a box whose clock is a little behind
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    keys_dir.mkdir(parents=True, exist_ok=True)
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(key_path, pem_key, mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return True


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate, as browsers show it (AB:CD:...)."""
    from cryptography.hazmat.primitives import hashes

    return _load(cert_path).fingerprint(hashes.SHA256()).hex(":").upper()


def days_left(cert_path: Path) -> float:
    cert = _load(cert_path)
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() / 86400


def _load(cert_path: Path) -> x509.Certificate:
    from cryptography import x509

    return x509.load_pem_x509_certificate(cert_path.read_bytes())


def client_context(cert_path: Path) -> ssl.SSLContext:
    """For the CLI talking to its own box: trust exactly the box's certificate. The host name
    is not checked because the CLI connects to a loopback address that a site CA's
    certificate need not name; pinning the certificate itself is the stronger check."""
    ctx = ssl.create_default_context(cafile=os.fspath(cert_path))
    ctx.check_hostname = False
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the trust anchor
    return ctx
