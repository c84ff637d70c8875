"""Extract the shipped person model from MediaPipe's npm package and verify it.

MediaPipe publishes its SSD MobileNetV2 (Open Images v4) detector only inside the packed asset
file of ``@mediapipe/objectron``: the label map first, then the ``.tflite`` bytes. This tool
cuts both out, checks the model's SHA-256 and writes ``models/``. It runs at development time
only (the box never downloads anything); the result is committed.

Usage:
  npm pack @mediapipe/objectron@0.4.1675468480          # the tarball, from the npm registry
  python -m firmware_tools.person_model mediapipe-objectron-0.4.1675468480.tgz [-o models]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
from pathlib import Path

PACKAGE = "@mediapipe/objectron"
VERSION = "0.4.1675468480"
MEMBER = "package/objectron_solution_packed_assets.data"
LABELS_END = 184  # the label map: 24 lines, "???" (background) first
MODEL_END = 9_987_912
MODEL_SHA256 = "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6"
MODEL_NAME = "person_ssd_mobilenetv2_oidv4"
N_LABELS = 24


class ExtractError(ValueError):
    """The input is not the expected package, or the bytes are not the expected model."""


def read_packed(source: Path) -> bytes:
    """The packed asset file, from the npm tarball (.tgz) or the already unpacked .data file."""
    if source.suffix in (".tgz", ".gz") or tarfile.is_tarfile(source):
        with tarfile.open(source, "r:gz") as tar:
            try:
                member = tar.extractfile(MEMBER)
            except KeyError:
                raise ExtractError(f"{source}: no {MEMBER} (not {PACKAGE}@{VERSION}?)") from None
            if member is None:
                raise ExtractError(f"{source}: {MEMBER} is not a regular file")
            return member.read()
    return source.read_bytes()


def split(packed: bytes) -> tuple[bytes, list[str]]:
    """(model bytes, labels) after checking the sizes, the hash and the label map."""
    if len(packed) < MODEL_END:
        raise ExtractError(f"packed assets have {len(packed)} bytes, expected >= {MODEL_END}")
    model = packed[LABELS_END:MODEL_END]
    digest = hashlib.sha256(model).hexdigest()
    if digest != MODEL_SHA256:
        raise ExtractError(f"model sha256 {digest} != expected {MODEL_SHA256}")
    if model[4:8] != b"TFL3":
        raise ExtractError("the extracted bytes are not a TFLite flatbuffer (no TFL3 tag)")
    labels = packed[:LABELS_END].decode("utf-8").splitlines()
    if len(labels) != N_LABELS or labels[0] != "???" or "Person" not in labels:
        raise ExtractError(f"label map has {len(labels)} entries (expected {N_LABELS}, ??? first)")
    return model, labels


def write(out: Path, model: bytes, labels: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{MODEL_NAME}.tflite"
    labels_path = out / f"{MODEL_NAME}.labels"
    model_path.write_bytes(model)
    labels_path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return [model_path, labels_path]


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_tools.person_model")
    parser.add_argument("source", type=Path, help=f"npm pack {PACKAGE}@{VERSION} (.tgz or .data)")
    parser.add_argument("-o", "--out", type=Path, default=Path("models"), help="output folder")
    args = parser.parse_args(argv)
    try:
        model, labels = split(read_packed(args.source))
    except (ExtractError, OSError, tarfile.TarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in write(args.out, model, labels):
        print(f"wrote {path}")
    print(f"sha256 {MODEL_SHA256} verified; {len(labels)} labels")
    return 0


if __name__ == "__main__":
    sys.exit(run())
