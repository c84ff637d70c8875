"""The cameras page: a low-rate live view per camera served by the box itself (no external
player), each detector's state, recent camera alarms with their snapshots (decrypted from the
store on the fly, for logged-in users only) and the number of alarms per day and kind."""

from __future__ import annotations

import io
import time
from typing import Any

from flask import Blueprint, abort, render_template, send_file

from box.web.auth import page_role
from box.web.nav import NavItem
from box.web.port import current_box
from box.web.push import PushSource
from vision import live, snapshots

bp = Blueprint("cameras", __name__)
NAV = [NavItem("/cameras", ("Cameras", "摄像头"), order=35)]
DETECTORS = ("intrusion", "helmet", "smoke_fire")
DAYS = 7


def _cameras() -> list[Any]:
    return [d for d in current_box().config.drivers if getattr(d, "type", "") == "camera"]


def _cameras_push(box: Any) -> dict[str, Any]:
    """The site map's camera markers: each camera's state (alarm, fault or ok)."""
    names = [d.name for d in box.config.drivers if getattr(d, "type", "") == "camera"]
    if not names:
        return {}
    chans = _channel_state(box.snapshot())
    diags = box.driver_diagnostics()
    out = []
    for name in names:
        mine = [c for cid, c in chans.items() if cid.startswith(f"{name}.")]
        state = "ok"
        if diags.get(name, {}).get("fault") or any(c.get("quality") == "bad" for c in mine):
            state = "fault"
        if any(c.get("alarms_active") for c in mine):
            state = "alarm"
        out.append({"name": name, "state": state})
    return {"cameras": out}


PUSH = [PushSource("cameras", _cameras_push, 0.5)]


def _channel_state(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in status.get("channels", [])}


@bp.get("/cameras")
@page_role("viewer")
def cameras() -> Any:
    box = current_box()
    status = box.snapshot()
    chans = _channel_state(status)
    diags = box.driver_diagnostics()
    cams = []
    for c in _cameras():
        opts = c.options()
        detectors = []
        for d in DETECTORS:
            ch = chans.get(f"{c.name}.{d}", {})
            detectors.append(
                {
                    "name": d,
                    "enabled": d in opts.enabled(),
                    "baseline": d != "intrusion" and getattr(opts, d).model == "baseline",
                    "value": ch.get("value"),
                    "quality": ch.get("quality", "stale"),
                    "alarm": bool(ch.get("alarms_active")),
                    "reason": ch.get("reason", ""),
                }
            )
        load = chans.get(f"{c.name}.load", {})
        diag = diags.get(c.name, {})
        cams.append(
            {
                "name": c.name,
                "url_kind": c.url.split(":", 1)[0] if "://" in c.url else "file/device",
                "fps_budget": c.fps_budget,
                "detectors": detectors,
                "load": load.get("value"),
                "live": live.latest(c.name) is not None,
                "fault": diag.get("fault", ""),
                "restarts": diag.get("worker_restarts", 0),
                "skipped": diag.get("frames_skipped_by_budget", 0),
            }
        )
    names = [c["name"] for c in cams]
    return render_template(
        "cameras.html", cameras=cams, events=_recent(names), counts=_counts(names)
    )


def _sources(names: list[str]) -> list[str]:
    return [f"{n}.{d}" for n in names for d in DETECTORS]


def _recent(names: list[str], limit: int = 20) -> list[dict[str, Any]]:
    sources = _sources(names)
    if not sources:
        return []
    conn = current_box().reader
    marks = ",".join("?" * len(sources))
    rows = conn.execute(
        f"SELECT seq, ts, source, level FROM events WHERE kind = 'alarm_raised' "  # noqa: S608 - only ? marks
        f"AND source IN ({marks}) ORDER BY seq DESC LIMIT ?",
        (*sources, limit),
    ).fetchall()
    out = []
    for seq, ts, source, level in rows:
        snap = snapshots.for_event(conn, source, ts)
        out.append(
            {
                "seq": seq,
                "time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts / 1000)),
                "source": source,
                "level": level,
                "snapshot": snap.id if snap else None,
                "labels": snap.labels if snap else "",
            }
        )
    return out


def _counts(names: list[str]) -> dict[str, Any]:
    sources = _sources(names)
    if not sources:
        return {"days": [], "rows": []}
    since = int((time.time() - DAYS * 86400) * 1000)
    marks = ",".join("?" * len(sources))
    rows = (
        current_box()
        .reader.execute(
            "SELECT date(ts / 1000, 'unixepoch', 'localtime') AS day, source, count(*) FROM events "  # noqa: S608
            f"WHERE kind = 'alarm_raised' AND ts >= ? AND source IN ({marks}) GROUP BY day, source",
            (since, *sources),
        )
        .fetchall()
    )
    days = sorted({r[0] for r in rows}, reverse=True)
    table: dict[str, dict[str, int]] = {}
    for day, source, n in rows:
        table.setdefault(source, {})[day] = n
    return {"days": days, "rows": sorted(table.items())}


@bp.get("/cameras/<name>/live.jpg")
@page_role("viewer")
def live_jpeg(name: str) -> Any:
    frame = live.latest(name)
    if frame is None:
        abort(404, f"no live frame of camera {name!r} (not running in this process?)")
    resp = send_file(io.BytesIO(frame[1]), mimetype="image/jpeg", max_age=0)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/cameras/snapshot/<int:item>.jpg")
@page_role("viewer")
def snapshot_jpeg(item: int) -> Any:
    """A stored snapshot (``item``: its record id), decrypted from the store for this view."""
    data = snapshots.jpeg(current_box().reader, item)
    if data is None:
        abort(404, f"no snapshot {item}")
    resp = send_file(io.BytesIO(data), mimetype="image/jpeg", max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
