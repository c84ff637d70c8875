"""Alarm API: list, acknowledge, reset, shelve, silence, lamp test. Writes need the API token.

Every command runs on the pipeline thread (the engine's own), through ``box.pipeline.call``.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, current_app, jsonify

from box.alarms.alarm import AlarmCommandError
from box.web.auth import body, require_role, who

bp = Blueprint("alarms", __name__)


def _box() -> Any:
    return current_app.config["BOX"]


class BadRequest(ValueError):
    """A request field is missing or has the wrong type."""


def _number(data: dict[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"'{key}' must be a number of seconds, got {value!r}")
    return float(value)


def _run(fn: Any) -> Any:
    try:
        return jsonify(_box().alarm_command(fn))
    except AlarmCommandError as exc:
        return jsonify(error=str(exc)), 409
    except BadRequest as exc:
        return jsonify(error=str(exc)), 400


@bp.get("/api/alarms")
def list_alarms() -> Any:
    return jsonify(_box().alarm_summary())


@bp.post("/api/alarms/<alarm_id>/ack")
@require_role("operator")
def ack(alarm_id: str) -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread
    note = str(data.get("note", ""))[:500]
    return _run(lambda e: e.ack(alarm_id, actor, note))


@bp.post("/api/alarms/<alarm_id>/reset")
@require_role("operator")
def reset(alarm_id: str) -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread
    return _run(lambda e: e.reset(alarm_id, actor))


@bp.post("/api/alarms/<alarm_id>/shelve")
@require_role("operator")
def shelve(alarm_id: str) -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread

    def cmd(e: Any) -> Any:
        return e.shelve(
            alarm_id, actor, _number(data, "duration_s"), str(data.get("reason", ""))[:500]
        )

    return _run(cmd)


@bp.post("/api/alarms/<alarm_id>/unshelve")
@require_role("operator")
def unshelve(alarm_id: str) -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread
    return _run(lambda e: e.unshelve(alarm_id, actor))


@bp.post("/api/alarms/ack-all")
@require_role("operator")
def ack_all() -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread
    return _run(lambda e: {"acknowledged": e.ack_all(actor)})


@bp.post("/api/alarms/silence")
@require_role("operator")
def silence() -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread
    return _run(lambda e: {"silenced_until": e.silence(actor, _number(data, "seconds", 0) or None)})


@bp.post("/api/alarms/test")
@require_role("operator")
def lamp_test() -> Any:
    data = body()
    actor = who(data)  # in the request thread: the command runs on the pipeline thread

    def cmd(e: Any) -> Any:
        seconds = _number(data, "seconds", 5.0)
        if not 0 < seconds <= 60:
            raise BadRequest(f"'seconds' must be between 0 and 60, got {seconds}")
        e.lamp_test(actor, seconds)
        return {"lamp_test_s": seconds}

    return _run(cmd)
