"""People API: positions, zones, the muster roll, trajectories and per-worker exposure, as
JSON for the site map and integrators. Reads need a viewer (positions are personal data);
starting or ending a muster needs an operator.

Live data comes from the positioning rules on the core thread (``positioning`` on the box's
facade); trajectories and visits from the store. A box without ``[[positioning]]`` answers
404 with the reason, never 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from flask import Blueprint, Response, jsonify, request

from box.core.errors import CommandRefused
from box.core.records import now_ms
from box.timeparse import parse_time_ms
from box.web.auth import body, require_role, who
from box.web.port import current_box
from box.web.push import PushSource

bp = Blueprint("people", __name__)


def _queries() -> Any:
    """Loaded at the first query: shapely and numpy stay out of a box without positioning."""
    from box.people import queries

    return queries


MAX_TRACK_ROWS = 200_000


@runtime_checkable
class PositioningBox(Protocol):
    def positioning(self, action: str, args: dict[str, Any] | None = None) -> Any: ...


def _people_push(box: Any) -> dict[str, Any]:
    """The site map's people layer: where everyone is, zone states, the muster roll (sampled
    four times a second while a page listens; sent only when it changed)."""
    if not isinstance(box, PositioningBox):
        return {}
    try:
        snap = box.positioning("snapshot")
    except CommandRefused:  # no [[positioning]] on this box
        return {}
    view = dict(snap)
    for person in view.get("people", []):
        person.pop("age_s", None)  # changes every sample; the page ages ts_ms itself
    view.pop("ts", None)
    return {"people": view}


PUSH = [PushSource("people", _people_push, 0.25)]


def _live(action: str, **args: Any) -> Any:
    box = current_box()
    if not isinstance(box, PositioningBox):
        return jsonify(error="this box serves no positioning data"), 404
    try:
        return jsonify(box.positioning(action, args))
    except CommandRefused as exc:
        status = 404 if "no 'positioning' rules" in str(exc) else 409
        return jsonify(error=str(exc)), status


@bp.get("/api/people")
@require_role("viewer")
def people() -> Any:
    """Everything the site map shows: people with positions and states, zones with counts
    and states, and the muster roll."""
    return _live("snapshot")


@bp.get("/api/people/zones")
@require_role("viewer")
def zones() -> Any:
    return _field("zones")


@bp.get("/api/people/positions")
@require_role("viewer")
def positions() -> Any:
    return _field("people")


def _field(name: str) -> Any:
    r = _live("snapshot")
    if isinstance(r, Response) and r.status_code == 200:
        data = r.get_json()
        return jsonify({"ts": data["ts"], name: data[name]})
    return r


@bp.get("/api/people/muster")
@require_role("viewer")
def muster_roll() -> Any:
    return _live("muster_roll")


@bp.post("/api/people/muster/start")
@require_role("operator")
def muster_start() -> Any:
    data = body()
    return _live("muster_start", who=who(data), reason=str(data.get("reason", ""))[:200])


@bp.post("/api/people/muster/end")
@require_role("operator")
def muster_end() -> Any:
    return _live("muster_end", who=who(body()))


@bp.get("/api/people/exposure")
@require_role("viewer")
def exposure() -> Any:
    return _live("exposure")


def _times() -> tuple[int, int | None]:
    now = now_ms()
    since = request.args.get("since", "1h")
    until = request.args.get("until")
    return parse_time_ms(since, now), parse_time_ms(until, now) if until else None


def _stored(fn: Callable[[], list[dict[str, Any]]], line: bool = False) -> Any:
    fmt = request.args.get("format", "json")
    if fmt not in _queries().FORMATS:
        return jsonify(error=f"format must be one of {', '.join(_queries().FORMATS)}"), 400
    try:
        rows = fn()[:MAX_TRACK_ROWS]
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    mime = {"json": "application/json", "csv": "text/csv", "geojson": "application/geo+json"}
    return Response(_queries().render(rows, fmt, line), mimetype=mime[fmt])


@bp.get("/api/people/track")
@require_role("viewer")
def track() -> Any:
    """One tag's stored trajectory (``tag``, ``since``, ``until``, ``format``); with
    ``recent=1`` the full-rate positions the box keeps in memory instead (the last
    ``track_window_s``), as ``[[ts_ms, x, y], ...]``."""
    tag = request.args.get("tag", "")
    if not tag:
        return jsonify(error="name the tag: ?tag=..."), 400
    if request.args.get("recent", "") in ("1", "true"):
        return _live("track", tag=tag)

    def rows() -> list[dict[str, Any]]:
        since, until = _times()
        return _queries().track(current_box().reader, tag, since, until)

    return _stored(rows, line=request.args.get("line", "") in ("1", "true"))


@bp.get("/api/people/visits")
@require_role("viewer")
def visits() -> Any:
    def rows() -> list[dict[str, Any]]:
        since, until = _times()
        return _queries().visits(
            current_box().reader,
            request.args.get("tag") or None,
            request.args.get("zone") or None,
            since,
            until,
        )

    return _stored(rows)
