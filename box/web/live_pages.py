"""The push stream (``GET /api/push``) and the wall display (``/wall``).

The wall display is for a screen in a control room: dark, big, no navigation, read-only. It is
opened with the box's wall key (``/wall?key=...``, shown to admins on the system page), which
starts a session that sees like a viewer and can never act (every command needs an operator),
does not time out when idle, and ends when the API token is rotated (the key derives from it).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, request, session

from box.web.auth import WALL_SESSION, bearer_ok, current_user, wall_key
from box.web.nav import NavItem
from box.web.push import READINGS_DEFAULT_MS, READINGS_MIN_MS, hub

bp = Blueprint("live", __name__)
NAV = [NavItem("/wall", "wall", order=90)]


@bp.get("/api/push")
def push() -> Any:
    """Server-Sent Events: ``topics`` (comma-separated) and ``readings_ms`` (how often at most
    readings come, 250 ms to 60 s). 401 without a login, 503 when too many pages are open."""
    seen = session.get("seen")
    user = current_user()
    if seen is not None and "seen" in session:
        session["seen"] = seen  # a page that only listens does not keep its session alive
    if user is None and not bearer_ok():
        return jsonify(error="log in, or send the API token (Authorization: Bearer)"), 401
    if user is not None and user.must_change:
        return jsonify(error="change your initial password first"), 403
    topics = frozenset(t[:64] for t in request.args.get("topics", "alarms").split(",")[:32] if t)
    try:
        readings_ms = int(request.args.get("readings_ms", READINGS_DEFAULT_MS))
    except ValueError:
        return jsonify(error="readings_ms must be a whole number of milliseconds"), 400
    readings_ms = min(max(readings_ms, READINGS_MIN_MS), 60_000)
    h = hub(current_app)
    stream = h.open(topics, readings_ms)
    if stream is None:
        return jsonify(error=f"too many open pages (at most {h.max_streams}): retry later"), 503
    resp = Response(h.events(stream), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"  # a reverse proxy must not buffer the stream
    return resp


@bp.get("/wall")
def wall() -> Any:
    key = request.args.get("key")
    if key is not None:
        if not hmac.compare_digest(key, wall_key()):
            abort(403, "wrong wall key")
        session.clear()
        session.update(wall=hashlib.sha256(key.encode()).hexdigest(), user=WALL_SESSION)
        session.permanent = True
        return redirect("/wall")
    user = current_user()
    if user is None:
        return redirect("/login")
    if user.must_change:
        return redirect("/password")
    from box.web.pages import dashboard_page

    return dashboard_page(wall=True)
