"""The update bundle: an uncompressed tar of ``manifest.json``, ``manifest.sig`` (Ed25519 over
the manifest's exact bytes) and ``wheels/*.whl``.

Reading is defensive: only those names, only regular files, the signature checked before any
wheel is written, every wheel's size and SHA-256 checked against the manifest, nothing missing
and nothing extra. A bundle that fails any check is refused with the reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from packaging.version import InvalidVersion, Version

from box.update.signing import UpdateRefused, load_private, verify

FORMAT = 1
PRODUCT = "safetybox"
MAX_MANIFEST = 256 * 1024
WHEEL_NAME = re.compile(r"^[A-Za-z0-9_.+-]+\.whl$")


@dataclass(frozen=True)
class Manifest:
    version: Version
    wheels: dict[str, tuple[int, str]]  # file name -> (size, sha256 hex)
    created: str

    @property
    def box_wheel(self) -> str:
        return next(n for n in self.wheels if n.startswith(f"{PRODUCT}-"))


def _parse_manifest(raw: bytes) -> Manifest:
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT or data.get("product") != PRODUCT:
            raise UpdateRefused(
                f"not a {PRODUCT} bundle of format {FORMAT} "
                f"(format {data.get('format')!r}, product {data.get('product')!r})"
            )
        version = Version(str(data["version"]))
        wheels = {str(w["name"]): (int(w["size"]), str(w["sha256"])) for w in data["wheels"]}
    except UpdateRefused:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, InvalidVersion) as exc:
        raise UpdateRefused(f"the bundle's manifest is malformed: {exc!r}") from None
    for name in wheels:
        if not WHEEL_NAME.match(name):
            raise UpdateRefused(f"the manifest names an unsafe wheel file {name!r}")
    box = [n for n in wheels if n.startswith(f"{PRODUCT}-")]
    if len(box) != 1 or not box[0].startswith(f"{PRODUCT}-{version}-"):
        raise UpdateRefused(f"the bundle must carry exactly one {PRODUCT}-{version} wheel")
    return Manifest(version, wheels, str(data.get("created", "")))


def build(wheels: list[Path], private_key: Path, out: Path) -> Manifest:
    """Write a signed bundle of ``wheels`` (one of them the box's own) to ``out``."""
    box = [w for w in wheels if w.name.startswith(f"{PRODUCT}-")]
    if len(box) != 1:
        raise UpdateRefused(f"give exactly one {PRODUCT} wheel (got {len(box)})")
    version = box[0].name.split("-")[1]
    data: dict[str, Any] = {
        "format": FORMAT,
        "product": PRODUCT,
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wheels": [
            {"name": w.name, "size": w.stat().st_size, "sha256": _sha256(w.read_bytes())}
            for w in sorted(wheels)
        ],
    }
    raw = json.dumps(data, indent=2, sort_keys=True).encode()
    manifest = _parse_manifest(raw)  # the builder refuses what a box would refuse
    signature = load_private(private_key).sign(raw)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "manifest.json", raw)
        _add(tar, "manifest.sig", signature)
        for wheel in sorted(wheels):
            tar.add(wheel, arcname=f"wheels/{wheel.name}", recursive=False)
    tmp.replace(out)
    return manifest


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(path: Path, trusted: Ed25519PublicKey, into: Path) -> Manifest:
    """Verify the bundle at ``path`` and write its wheels to ``into``; UpdateRefused if any
    check fails (then ``into`` may hold some checked wheels, never an unchecked one)."""
    try:
        tar = tarfile.open(path, "r:")  # uncompressed only: no decompression bombs
    except (OSError, tarfile.TarError) as exc:
        raise UpdateRefused(f"{path} is not a readable bundle: {exc}") from None
    with tar:
        members = {}
        for member in tar.getmembers():
            if not member.isfile():
                raise UpdateRefused(f"the bundle holds a non-file entry {member.name!r}")
            if member.name in members:
                raise UpdateRefused(f"the bundle holds {member.name!r} twice")
            members[member.name] = member
        raw = _member(tar, members, "manifest.json", MAX_MANIFEST)
        signature = _member(tar, members, "manifest.sig", 64)
        verify(trusted, signature, raw)
        manifest = _parse_manifest(raw)
        expected = {f"wheels/{name}" for name in manifest.wheels}
        extra = set(members) - expected - {"manifest.json", "manifest.sig"}
        if extra:
            raise UpdateRefused(
                f"the bundle holds files its manifest does not list: {sorted(extra)}"
            )
        into.mkdir(parents=True, exist_ok=True)
        for name, (size, digest) in manifest.wheels.items():
            data = _member(tar, members, f"wheels/{name}", size)
            if len(data) != size or _sha256(data) != digest:
                raise UpdateRefused(f"{name} does not match its size and SHA-256 in the manifest")
            (into / name).write_bytes(data)
    return manifest


def _member(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, limit: int
) -> bytes:
    member = members.get(name)
    if member is None:
        raise UpdateRefused(f"the bundle has no {name}")
    if member.size > limit:
        raise UpdateRefused(f"{name} is larger than expected ({member.size} > {limit} bytes)")
    handle = tar.extractfile(member)
    if handle is None:
        raise UpdateRefused(f"cannot read {name} from the bundle")
    return handle.read(limit + 1)
