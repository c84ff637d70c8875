"""The OpenAPI 3 document of the box's JSON API, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any

from box import __version__

_JSON = "application/json"


def _resp(*codes: int) -> dict[str, Any]:
    text = {
        200: "done",
        400: "a field is missing or malformed (see error)",
        401: "not logged in",
        403: "the role may not do this",
        404: "no such thing",
        409: "not possible in this state (see error)",
        422: "config rejected; the running one stays",
        503: "unhealthy",
    }
    return {
        str(c): {"description": text[c], "content": {_JSON: {"schema": {"type": "object"}}}}
        for c in codes
    }


def _body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return {"required": False, "content": {_JSON: {"schema": schema}}}


_ALARM = {
    "name": "alarm_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "CHANNEL:NAME, vote:ID or ext:KEY",
}
_WHO = {"who": {"type": "string", "maxLength": 64}}
_WRITE = [{"bearer": []}, {"session": [], "csrf": []}]


def document() -> dict[str, Any]:
    def alarm_op(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": [_ALARM],
            "security": _WRITE,
            "responses": _resp(200, 400, 401, 403, 409),
        }
        if body is not None:
            op["requestBody"] = body
        return {"post": op}

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "SafetyBox local API",
            "version": __version__,
            "description": "Writes need the API token (Authorization: Bearer, from "
            "keys/api.key) or a logged-in session with its CSRF token (X-CSRF-Token).",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "safetybox_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            }
        },
        "paths": {
            "/api/status": {
                "get": {
                    "summary": "Channels, drivers, queues, store, alarms, outputs, sync",
                    "responses": _resp(200),
                }
            },
            "/api/health": {"get": {"summary": "Worker health", "responses": _resp(200, 503)}},
            "/api/alarms": {
                "get": {
                    "summary": "Alarms that are not normal, with first-out",
                    "responses": _resp(200),
                }
            },
            "/api/alarms/{alarm_id}/ack": alarm_op(
                "Acknowledge", _body({"note": {"type": "string"}, **_WHO})
            ),
            "/api/alarms/{alarm_id}/reset": alarm_op("Reset a cleared latched alarm", _body(_WHO)),
            "/api/alarms/{alarm_id}/shelve": alarm_op(
                "Shelve with a reason and an expiry",
                _body(
                    {"duration_s": {"type": "number"}, "reason": {"type": "string"}, **_WHO},
                    ["duration_s", "reason"],
                ),
            ),
            "/api/alarms/{alarm_id}/unshelve": alarm_op("End a shelve", _body(_WHO)),
            "/api/alarms/ack-all": {
                "post": {
                    "summary": "Acknowledge every alarm",
                    "security": _WRITE,
                    "requestBody": _body(_WHO),
                    "responses": _resp(200, 400, 401, 403),
                }
            },
            "/api/alarms/silence": {
                "post": {
                    "summary": "Mute the buzzer",
                    "security": _WRITE,
                    "requestBody": _body({"seconds": {"type": "number"}, **_WHO}),
                    "responses": _resp(200, 400, 401, 403),
                }
            },
            "/api/alarms/test": {
                "post": {
                    "summary": "Lamp and horn test",
                    "security": _WRITE,
                    "requestBody": _body({"seconds": {"type": "number"}, **_WHO}),
                    "responses": _resp(200, 400, 401, 403),
                }
            },
            "/api/config/reload": {
                "post": {
                    "summary": "Re-read box.toml (admin)",
                    "security": _WRITE,
                    "requestBody": _body(_WHO),
                    "responses": _resp(200, 400, 401, 403, 422),
                }
            },
        },
    }
