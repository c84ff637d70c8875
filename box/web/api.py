"""JSON API: status and health for people and tools, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from box.web.port import current_box

bp = Blueprint("api", __name__)


@bp.get("/api/status")
def status() -> Any:
    return jsonify(current_box().snapshot())


@bp.get("/api/openapi.json")
def openapi() -> Any:
    from box.web.openapi import document

    return jsonify(document())


@bp.get("/api/health")
def health() -> Any:
    problems = current_box().health_problems()
    return jsonify(ok=not problems, problems=problems), (200 if not problems else 503)
