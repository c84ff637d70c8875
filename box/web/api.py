"""JSON API: status and health for people and tools, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

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
