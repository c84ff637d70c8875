"""A detection model: a ``.tflite`` file, its labels, how to feed it and how to decode it.

Described by a small TOML manifest beside the file (``models/<name>.toml``), so a site's own
model (an int8 hard-hat detector it trained) is added by dropping in two files and naming the
manifest in the camera config; no code changes.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from box.core.model import StrictModel
from vision.decoders import DecoderConfig
from vision.settings import MODELS_DIR, PERSON_MODEL

__all__ = ["MODELS_DIR", "PERSON_MODEL", "ModelError", "ModelSpec", "load_labels", "load_spec"]


class ModelSpec(StrictModel):
    name: str
    file: str = Field(description="the .tflite file, relative to the manifest")
    labels: str = Field(description="label file (one per line, index = class id)")
    input_range: tuple[float, float] = Field(
        default=(0.0, 1.0), description="pixel 0..255 maps linearly onto this range"
    )
    color: Literal["rgb", "bgr"] = "rgb"
    decoder: DecoderConfig
    card: str = Field(default="", description="the model card (Markdown), relative")


class ModelError(ValueError):
    """A manifest, label file or model file is missing or wrong; the text names which."""


def label_key(text: str) -> str:
    """ "Person" -> "person", "Coffee cup" -> "coffee_cup": the names rules and configs use."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_") or "unknown"


def manifest_path(ref: str) -> Path:
    """A manifest by name (``models/<name>.toml``) or by path."""
    if "/" in ref or ref.endswith(".toml"):
        return Path(ref)
    return MODELS_DIR / f"{ref}.toml"


def load_spec(ref: str) -> tuple[ModelSpec, Path]:
    path = manifest_path(ref)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"model manifest {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model manifest {path}: {exc}") from None
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise ModelError(f"model manifest {path}: {exc}") from None
    return spec, path.parent


def load_labels(spec: ModelSpec, folder: Path) -> list[str]:
    path = folder / spec.labels
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"labels of model {spec.name}: {path}: {exc.strerror or exc}") from None
    if not lines:
        raise ModelError(f"labels of model {spec.name}: {path} is empty")
    return [label_key(line) for line in lines]
