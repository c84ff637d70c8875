"""Which record types the box accepts, and how any of them becomes a stored row.

Readings and events have tables of their own (the hot path and the hash chain); every other
type, built-in (positions, detections) or from a plug-in, is stored and synced generically as
``(type, ts, key, data)`` with ``data`` its fields as JSON. The pipeline routes only the
types named here: anything else a driver hands over is refused and counted.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from box.core import plugins
from box.core.records import Detection, Event, Position, Reading, Snapshot

BUILTIN: tuple[type, ...] = (Reading, Event, Position, Detection, Snapshot)


def _is_record_type(name: str, obj: Any) -> str:
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        return "is not a dataclass"
    fields = {f.name for f in dataclasses.fields(obj)}
    if getattr(obj, "RECORD_TYPE", None) != name:
        return f"RECORD_TYPE must be the entry point's name {name!r}"
    key = getattr(obj, "RECORD_KEY", None)
    if key not in fields or "ts_ms" not in fields:
        return "needs a ts_ms field and RECORD_KEY naming one of its fields"
    if not obj.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return "must be frozen (records are immutable)"
    return ""


@dataclass
class RecordTypes:
    by_name: dict[str, type] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> RecordTypes:
        """The built-in types, then those plug-ins register (a broken one is reported)."""
        builtins = {t.RECORD_TYPE: t for t in BUILTIN}  # type: ignore[attr-defined]
        loaded: plugins.Loaded[type] = plugins.load(plugins.RECORDS, _is_record_type, builtins)
        return cls(dict(loaded.items), dict(loaded.failed))

    def generic(self) -> list[type]:
        """The types stored as generic rows (all but readings and events)."""
        return [t for t in self.by_name.values() if t not in (Reading, Event)]


def record_data(record: Any) -> dict[str, Any]:
    """A record's fields as plain JSON values. Non-finite floats become null: JSON has no NaN,
    and a consumer in another language must parse every row."""
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def to_row(record: Any) -> tuple[str, int, str, str]:
    """(type, ts, key, data JSON) of a generic record, as the store keeps it."""
    data = record_data(record)
    return (
        record.RECORD_TYPE,
        int(record.ts_ms),
        str(data[record.RECORD_KEY]),
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
