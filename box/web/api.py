"""JSON API: status for people and tools, and the config-reload call."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from box.web.auth import body, require_role, who

bp = Blueprint("api", __name__)


def _box() -> Any:
    return current_app.config["BOX"]


@bp.get("/api/status")
def status() -> Any:
    return jsonify(_box().snapshot())


@bp.get("/api/openapi.json")
def openapi() -> Any:
    from box.web.openapi import document

    return jsonify(document())


@bp.get("/api/health")
def health() -> Any:
    problems = _box().health_problems()
    return jsonify(ok=not problems, problems=problems), (200 if not problems else 503)


@bp.post("/api/config/reload")
@require_role("admin")
def reload_config() -> Any:
    """Re-read box.toml; an invalid config is rejected and the running one stays."""
    result = _box().reload(who=who(body()))
    return jsonify(result), (200 if result["accepted"] else 422)
