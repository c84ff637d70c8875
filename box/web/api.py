"""JSON API: status for people and tools, and the config-reload call."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, request

bp = Blueprint("api", __name__)


def _box() -> Any:
    return current_app.config["BOX"]


@bp.get("/")
def index() -> Any:
    return redirect("/api/status")


@bp.get("/api/status")
def status() -> Any:
    return jsonify(_box().snapshot())


@bp.get("/api/health")
def health() -> Any:
    problems = _box().health_problems()
    return jsonify(ok=not problems, problems=problems), (200 if not problems else 503)


@bp.post("/api/config/reload")
def reload_config() -> Any:
    """Re-read box.toml; a config that fails validation is rejected and the old one keeps running.

    Needs ``Authorization: Bearer <token>`` with the token from the box's ``api.key`` file.
    """
    box = _box()
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not header.startswith("Bearer ") or not hmac.compare_digest(token, box.api_token):
        return jsonify(error="missing or wrong API token (Authorization: Bearer ...)"), 401
    body = request.get_json(silent=True, force=True)  # curl users forget the header
    who = "api"
    if isinstance(body, dict) and isinstance(body.get("who"), str):
        who = f"api:{body['who'][:64]}"
    result = box.reload(who=who)
    return jsonify(result), (200 if result["accepted"] else 422)
