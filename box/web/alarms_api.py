"""Alarm API: list, acknowledge, reset, shelve, silence, lamp test. Writes need the API token.

Every command goes through the box's ``Commands`` port, which runs it on the core thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify

from box.core.errors import CommandRefused
from box.web.auth import body, require_role, who
from box.web.port import current_box

bp = Blueprint("alarms", __name__)


class BadRequest(ValueError):
    """A request field is missing or has the wrong type."""


def _number(data: dict[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"'{key}' must be a number of seconds, got {value!r}")
    return float(value)


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return jsonify(fn())
    except CommandRefused as exc:
        return jsonify(error=str(exc)), 409
    except BadRequest as exc:
        return jsonify(error=str(exc)), 400


@bp.get("/api/alarms")
def list_alarms() -> Any:
    return jsonify(current_box().alarm_summary())


@bp.post("/api/alarms/<alarm_id>/ack")
@require_role("operator")
def ack(alarm_id: str) -> Any:
    data = body()
    actor = who(data)
    note = str(data.get("note", ""))[:500]
    return _run(lambda: current_box().ack(alarm_id, actor, note))


@bp.post("/api/alarms/<alarm_id>/reset")
@require_role("operator")
def reset(alarm_id: str) -> Any:
    data = body()
    actor = who(data)
    return _run(lambda: current_box().reset(alarm_id, actor))


@bp.post("/api/alarms/<alarm_id>/shelve")
@require_role("operator")
def shelve(alarm_id: str) -> Any:
    data = body()
    actor = who(data)

    def cmd() -> Any:
        return current_box().shelve(
            alarm_id, actor, _number(data, "duration_s"), str(data.get("reason", ""))[:500]
        )

    return _run(cmd)


@bp.post("/api/alarms/<alarm_id>/unshelve")
@require_role("operator")
def unshelve(alarm_id: str) -> Any:
    data = body()
    actor = who(data)
    return _run(lambda: current_box().unshelve(alarm_id, actor))


@bp.post("/api/alarms/ack-all")
@require_role("operator")
def ack_all() -> Any:
    data = body()
    actor = who(data)
    return _run(lambda: {"acknowledged": current_box().ack_all(actor)})


@bp.post("/api/alarms/silence")
@require_role("operator")
def silence() -> Any:
    data = body()
    actor = who(data)

    def cmd() -> Any:
        seconds = _number(data, "seconds", 0) or None
        return {"silenced_until": current_box().silence(actor, seconds)}

    return _run(cmd)


@bp.post("/api/alarms/test")
@require_role("operator")
def lamp_test() -> Any:
    data = body()
    actor = who(data)

    def cmd() -> Any:
        seconds = _number(data, "seconds", 5.0)
        if not 0 < seconds <= 60:
            raise BadRequest(f"'seconds' must be between 0 and 60, got {seconds}")
        current_box().lamp_test(actor, seconds)
        return {"lamp_test_s": seconds}

    return _run(cmd)
