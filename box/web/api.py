"""JSON API: status and health for people and tools, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from box.web.auth import require_role
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


@bp.get("/api/channels/<channel>/registers")
@require_role("viewer")
def channel_registers(channel: str) -> Any:
    """The raw words the box last read for a Modbus channel's device, so ``safetybox sensors
    verify CHANNEL`` can commission a device whose port the running box owns."""
    box = current_box()
    diagnostics = box.driver_diagnostics()
    for drv in box.config.drivers:
        for dev in getattr(drv, "devices", []):  # Modbus driver configs: units and their points
            point = next((pt for pt, ch in dev.channels.items() if ch == channel), None)
            if point is None:
                continue
            seen = diagnostics.get(drv.name, {}).get("devices", {}).get(dev.unit, {})
            if not seen.get("registers"):
                status = seen.get("status", "driver not running")
                return jsonify(error=f"unit {dev.unit} not read yet: {status}"), 409
            return jsonify(
                channel=channel,
                driver=drv.name,
                unit=dev.unit,
                profile=dev.profile,
                point=point,
                status=seen.get("status", ""),
                registers=seen["registers"],
            )
    return jsonify(error=f"no Modbus channel {channel!r} on this box"), 404
