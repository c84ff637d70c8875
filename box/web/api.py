"""JSON API: status and health for people and tools, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from box.web.port import current_box

from box.web.auth import require_role

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
    for sup in _box().supervisors:
        driver = sup.driver
        if getattr(driver, "type_key", "") != "modbus":
            continue
        for dev in getattr(driver, "devices", []):
            point = next((pt for pt, ch in dev.cfg.channels.items() if ch == channel), None)
            if point is None:
                continue
            if not dev.registers:
                return jsonify(error=f"unit {dev.cfg.unit} not read yet: {dev.status}"), 409
            return jsonify(
                channel=channel,
                driver=sup.name,
                unit=dev.cfg.unit,
                profile=dev.profile.name,
                point=point,
                status=dev.status,
                registers={f"{fc}:{a}": w for (fc, a), w in sorted(dev.registers.items())},
            )
    return jsonify(error=f"no Modbus channel {channel!r} on this box"), 404
