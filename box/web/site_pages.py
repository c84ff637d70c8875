"""Site overview: an uploaded site plan with the channels placed on it, coloured by alarm state.

Only PNG and JPEG plans are accepted (checked by content, not by name: an SVG could carry
script). Positions are stored in the store's state table as percentages of the plan.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from flask import (
    Blueprint,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
)

from box.atomic import write_atomic
from box.web.audit import audit
from box.web.auth import body, current_user, page_role, require_role, who
from box.web.nav import NavItem
from box.web.port import current_box

bp = Blueprint("site", __name__)
NAV = [NavItem("/site", "site", order=20)]

STATE_POSITIONS = "site.positions"
MAX_PLAN_BYTES = 5 * 1024 * 1024
MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}


def _plan() -> Any:
    for ext in ("png", "jpg"):
        path = current_box().home.data_dir / f"site-plan.{ext}"
        if path.exists():
            return path
    return None


def positions() -> dict[str, list[float]]:
    row = (
        current_box()
        .reader.execute("SELECT value FROM state WHERE key = ?", (STATE_POSITIONS,))
        .fetchone()
    )
    return json.loads(row[0]) if row else {}


@bp.get("/site")
@page_role("viewer")
def site() -> Any:
    return render_template(
        "site.html",
        status_=current_box().snapshot(),
        plan=_plan() is not None,
        positions=positions(),
    )


@bp.get("/site/plan")
def plan() -> Any:
    if current_user() is None:
        abort(401)
    path = _plan()
    if path is None:
        abort(404, "no site plan uploaded yet")
    mimetype = "image/png" if path.suffix == ".png" else "image/jpeg"
    return send_file(io.BytesIO(path.read_bytes()), mimetype=mimetype, max_age=0)


@bp.before_request
def _allow_plan_uploads() -> None:
    """Plans may be photos of a few MB; every other request keeps the app's 1 MB limit.
    Set before any view or decorator reads the body (the CSRF check reads the form)."""
    if request.endpoint in ("site.upload", "site.upload_api"):
        request.max_content_length = MAX_PLAN_BYTES + 64 * 1024  # room for multipart framing


def _store_plan(data: bytes) -> str | None:
    """Keep an uploaded plan; the reason it was refused, or None."""
    if not data or len(data) > MAX_PLAN_BYTES:
        return "upload a PNG or JPEG of at most 5 MB"
    ext = next((e for magic, e in MAGIC.items() if data.startswith(magic)), None)
    if ext is None:
        return "only PNG or JPEG images are accepted"
    for old in ("png", "jpg"):
        (current_box().home.data_dir / f"site-plan.{old}").unlink(missing_ok=True)
    write_atomic(current_box().home.data_dir / f"site-plan.{ext}", data, mode=0o640)
    audit("site_plan_uploaded", by=who({}), bytes=len(data), format=ext)
    return None


@bp.post("/site/plan")
@page_role("admin")
def upload() -> Any:
    f = request.files.get("plan")
    data = b""
    if f:
        try:
            data = f.read(MAX_PLAN_BYTES + 1)
        finally:
            f.close()  # a large upload is spooled to a temp file: close it now
    refused = _store_plan(data)
    if refused:
        abort(400, refused)
    return redirect("/site")


@bp.put("/api/site/plan")
@require_role("admin")
def upload_api() -> Any:
    """The plan image as the request body (image/png or image/jpeg)."""
    refused = _store_plan(request.get_data(cache=False)[: MAX_PLAN_BYTES + 1])
    if refused:
        return jsonify(error=refused), 400
    return jsonify(plan=True)


@bp.get("/api/site")
@require_role("viewer")
def site_api() -> Any:
    """Whether a plan is uploaded (GET /site/plan), and where each channel is placed (%)."""
    return jsonify(plan=_plan() is not None, positions=positions())


def _percent(v: object) -> float | None:
    """``v`` rounded as a percentage 0..100, or None if it is not one (a bool is not)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if not math.isfinite(v) or not 0 <= v <= 100:
        return None
    return round(float(v), 2)


@bp.post("/api/site/positions")
@require_role("admin")
def place() -> Any:
    """Place a channel on the plan: ``{"channel": id, "x": 0..100, "y": 0..100}`` (percent)."""
    data = body()
    channel, x, y = data.get("channel"), data.get("x"), data.get("y")
    known = {c.id for c in current_box().config.channels}
    # cameras are placed like channels, as "camera:<name>" (markers linking the cameras page)
    known |= {f"camera:{d.name}" for d in current_box().config.drivers if d.type == "camera"}
    if channel not in known:
        return jsonify(error=f"unknown channel {channel!r}"), 400
    at: list[float] = []
    for name, v in (("x", x), ("y", y)):
        percent = _percent(v)
        if percent is None:
            return jsonify(error=f"'{name}' must be a percentage 0..100, got {v!r}"), 400
        at.append(percent)
    placed = positions()
    placed[channel] = at
    audit("site_position_set", by=who(data), channel=channel, at=placed[channel])
    text = json.dumps(placed)
    current_box().save_state(STATE_POSITIONS, text)
    return jsonify(placed)
