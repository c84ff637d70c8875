"""Snapshots in the store: the annotated JPEG of the frame that started a camera alarm.

A snapshot is a ``snapshot`` record (``box.core.records.Snapshot``) in the encrypted store.
It is linked to its alarm event by the camera channel (the event's ``source``) and time: the
snapshot is taken on the analysed frame that raised the detector's channel, so the alarm
event follows it within moments. Queries here take an open store connection (read-only is
enough) and never touch the pixels until asked.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

LINK_WINDOW_MS = 30_000  # snapshot before its alarm event, at most this much


@dataclass(frozen=True)
class StoredSnapshot:
    id: int
    camera: str
    ts_ms: int
    ref: str
    channel: str
    labels: str
    width: int
    height: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _row(row: tuple[Any, ...]) -> tuple[StoredSnapshot, str]:
    rid, ts, key, data = row
    d = json.loads(data)
    snap = StoredSnapshot(
        int(rid),
        str(key),
        int(ts),
        str(d.get("ref", "")),
        str(d.get("channel", "")),
        str(d.get("labels", "")),
        int(d.get("width") or 0),
        int(d.get("height") or 0),
    )
    return snap, str(d.get("jpeg_b64", ""))


def recent(conn: Any, camera: str | None = None, limit: int = 20) -> list[StoredSnapshot]:
    sql = "SELECT id, ts, key, data FROM records WHERE type = 'snapshot'"
    args: list[Any] = []
    if camera:
        sql += " AND key = ?"
        args.append(camera)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [_row(r)[0] for r in conn.execute(sql, args).fetchall()]


def jpeg(conn: Any, snapshot_id: int) -> bytes | None:
    row = conn.execute(
        "SELECT id, ts, key, data FROM records WHERE type = 'snapshot' AND id = ?", (snapshot_id,)
    ).fetchone()
    if row is None:
        return None
    return base64.b64decode(_row(row)[1])


def for_event(conn: Any, source: str, ts_ms: int) -> StoredSnapshot | None:
    """The snapshot of an alarm event: on a camera channel (``source`` like ``gate.intrusion``)
    the latest one of that channel taken at most ``LINK_WINDOW_MS`` before the event; for an
    alarm elsewhere that links cameras (``person:t1``, ``zone:yard``), the one a linked camera
    took for it (stamped with the event's time)."""
    camera = source.split(".", 1)[0]
    if ":" in camera:  # not a camera channel: any camera's snapshot for this alarm
        rows = conn.execute(
            "SELECT id, ts, key, data FROM records WHERE type = 'snapshot' AND ts = ?",
            (ts_ms,),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT id, ts, key, data FROM records WHERE type = 'snapshot' AND key = ? "
            "AND ts BETWEEN ? AND ? ORDER BY ts DESC",
            (camera, ts_ms - LINK_WINDOW_MS, ts_ms + 1000),
        ).fetchall()
    for r in rows:
        snap, _ = _row(r)
        if snap.channel == source:
            return snap
    return None
