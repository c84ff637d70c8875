"""A generic JSON position source: which fields of a vendor's message hold what.

Paths are dotted (``data.coordinates.x``; a number indexes a list). A message may be one
object or a list of them (Pozyx sends a list). The tag id may come from the topic instead
(the DWM1001 gateway's ``dwm/node/<id>/uplink/location``). A message that lacks a mapped
field or holds a non-number there is refused with the reason (counted by the driver).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ConfigDict, Field

from box.core.model import StrictModel
from drivers.uwb.fix import Fix
from drivers.uwb.zh import zh_names


class FieldMap(StrictModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)
    tag: str = Field(default="tagId", description="path of the tag id ('' = from the topic)")
    x: str = "position.x"
    y: str = "position.y"
    z: str = Field(default="position.z", description="'' when the source has no height")
    quality: str = Field(default="position.quality", description="'' when not reported")
    battery: str = Field(default="", description="path of the battery level in percent")
    sos: str = Field(default="", description="path of the SOS button flag")
    ts: str = Field(default="", description="path of a UNIX timestamp (s)")
    tag_from_topic: int | None = Field(
        default=None, ge=0, description="topic level holding the tag id (dwm/node/+/...: 2)"
    )
    scale: float = Field(default=1.0, gt=0, description="units per metre divisor: mm = 1000")


def lookup(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def _number(doc: Any, path: str) -> float:
    try:
        v = lookup(doc, path)
    except KeyError:
        raise ValueError(f"field {path!r} is missing") from None
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"field {path!r} is not a number: {v!r}")
    try:
        f = float(v)
    except ValueError:
        raise ValueError(f"field {path!r} is not a number: {v!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"field {path!r} is not finite: {v!r}")
    return f


def parse_message(payload: bytes | str, fields: FieldMap, topic: str = "") -> list[Fix]:
    """Every fix in one message; ValueError naming the field if any item is unusable."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    items = doc if isinstance(doc, list) else [doc]
    return [_fix(item, fields, topic) for item in items]


def _fix(item: Any, f: FieldMap, topic: str) -> Fix:
    if f.tag_from_topic is not None:
        levels = topic.split("/")
        if f.tag_from_topic >= len(levels) or not levels[f.tag_from_topic]:
            raise ValueError(f"topic {topic!r} has no level {f.tag_from_topic} for the tag id")
        tag = levels[f.tag_from_topic]
    else:
        try:
            tag = lookup(item, f.tag)
        except KeyError:
            raise ValueError(f"field {f.tag!r} (tag id) is missing") from None
        if not isinstance(tag, str | int) or isinstance(tag, bool) or tag == "":
            raise ValueError(f"field {f.tag!r} (tag id) is not a string or integer")
    s = f.scale
    x, y = _number(item, f.x) / s, _number(item, f.y) / s
    z = _number(item, f.z) / s if f.z else 0.0
    quality = _number(item, f.quality) if f.quality else None
    if quality is not None and not 0 <= quality <= 100:
        raise ValueError(f"field {f.quality!r} (quality) {quality} is not 0..100")
    battery = _number(item, f.battery) if f.battery else None
    sos = False
    if f.sos:
        try:
            sos = bool(lookup(item, f.sos))
        except KeyError:
            sos = False  # a message without the flag: the button is not pressed
    ts_ms = round(_number(item, f.ts) * 1000) if f.ts else None
    return Fix(
        str(tag),
        x,
        y,
        z,
        quality,
        battery,
        None,
        sos,
        ts_ms,
    )
