"""What changed between two configs (field paths), and the history of accepted configs."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from box.atomic import write_atomic
from box.config.schema import BoxConfigBase
from box.config.secrets import mask_text

HISTORY_KEEP = 20


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed_paths(old: BoxConfigBase | None, new: BoxConfigBase) -> list[str]:
    """Dotted paths whose values differ; lists of sections compare item by item."""
    before = _flatten(old.model_dump(mode="json")) if old is not None else {}
    after = _flatten(new.model_dump(mode="json"))
    keys = sorted(set(before) | set(after))
    return [k for k in keys if before.get(k, _ABSENT) != after.get(k, _ABSENT)]


_ABSENT = object()


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(node, list) and node and all(isinstance(i, dict) for i in node):
        for i, v in enumerate(node):
            out.update(_flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = node
    return out


def archive(history_dir: Path, text: str) -> Path:
    """Keep a copy of an accepted config, secrets masked; the oldest beyond ``HISTORY_KEEP``
    are removed."""
    text = mask_text(text)
    history_dir.mkdir(parents=True, exist_ok=True)
    # Microsecond stamps keep the names in acceptance order even for several changes a second.
    now_us = time.time_ns() // 1000
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_us / 1e6)) + f".{now_us % 10**6:06d}Z"
    path = history_dir / f"box-{stamp}-{digest(text)[:8]}.toml"
    if not path.exists():
        write_atomic(path, text, mode=0o600)
    for old in sorted(history_dir.glob("box-*.toml"))[:-HISTORY_KEEP]:
        old.unlink(missing_ok=True)
    return path
