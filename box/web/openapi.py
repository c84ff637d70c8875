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
        415: "send application/json",
        422: "config rejected; the running one stays",
        429: "too many login attempts from this address: wait a minute",
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
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_WRITE: list[dict[str, list[str]]] = [{"bearer": []}, {"session": [], "csrf": []}]


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
            **_session_paths(),
            **_config_paths(),
            **_admin_paths(),
            **_view_paths(),
        },
    }


def _post(summary: str, body: dict[str, Any], *codes: int) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": _WRITE,
            "requestBody": body,
            "responses": _resp(200, 400, 401, 403, *codes),
        }
    }


def _get(summary: str, *codes: int, params: list[Any] | None = None, kind: str = _JSON) -> Any:
    op: dict[str, Any] = {"summary": summary, "responses": _resp(200, 401, 403, *codes)}
    if kind != _JSON:
        op["responses"]["200"] = {"description": "a file", "content": {kind: {}}}
    if params:
        op["parameters"] = params
    return {"get": op}


def _query(name: str, schema: dict[str, Any], about: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": about}


_EDIT = {
    "type": "object",
    "properties": {
        "path": {
            "type": "array",
            "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "description": 'e.g. ["channels", 0, "alarms", "thresholds", "levels", 0, "at"]',
        },
        "value": {"description": "the new value (any TOML value)"},
        "delete": {"type": "boolean", "description": "remove the key (its default applies)"},
    },
    "required": ["path"],
}


def _session_paths() -> dict[str, Any]:
    cookie: list[dict[str, list[str]]] = [{"session": []}]
    return {
        "/api/session": {
            "post": {
                "summary": "Log in (JSON only); returns the role and the CSRF token for writes",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "user": {"type": "string"},
                                    "password": {"type": "string"},
                                },
                                "required": ["user", "password"],
                            }
                        }
                    },
                },
                "responses": _resp(200, 401, 415, 429),
            },
            "get": {
                "summary": "Who is logged in",
                "security": cookie,
                "responses": _resp(200, 401),
            },
            "delete": {
                "summary": "Log out",
                "security": [{"session": [], "csrf": []}],
                "responses": _resp(200, 400, 401),
            },
        },
        "/api/password": {
            "post": {
                "summary": "Change the logged-in user's password; every other session of the"
                " user ends, this one is renewed (the answer carries its new CSRF token)",
                "security": [{"session": [], "csrf": []}],
                "requestBody": _body(
                    {"old": {"type": "string"}, "new": {"type": "string"}}, ["old", "new"]
                ),
                "responses": _resp(200, 400, 401),
            }
        },
    }


def _config_paths() -> dict[str, Any]:
    text = {"text": {"type": "string", "description": "a whole box.toml"}}
    base = {"base": {"type": "string", "description": "digest from GET /api/config"}}
    return {
        "/api/config": _get("box.toml, its digest and the saved earlier configs (admin)"),
        "/api/config/check": _post(
            "Validate a box.toml: issues by field path and line, diff (admin)",
            _body(text, ["text"]),
        ),
        "/api/config/edit": _post(
            "Change fields by path, keeping comments; validate, diff, optionally apply (admin)",
            _body(
                {
                    "edits": {"type": "array", "items": _EDIT},
                    "apply": {"type": "boolean"},
                    **base,
                    **_WHO,
                },
                ["edits"],
            ),
            409,
            422,
        ),
        "/api/config/apply": _post(
            "Install a box.toml and reload (admin)",
            _body({**text, **base, **_WHO}, ["text", "base"]),
            409,
            422,
        ),
        "/api/config/restore": _post(
            "Check and diff a saved earlier config, to apply it (admin)",
            _body({"name": {"type": "string"}}, ["name"]),
            404,
        ),
    }


def _admin_paths() -> dict[str, Any]:
    role = {"type": "string", "enum": ["viewer", "operator", "admin"]}
    return {
        "/api/users": {
            **_get("Accounts and roles (admin)"),
            **_post(
                "Add an account; returns its temporary password (admin)",
                _body({"name": {"type": "string"}, "role": role, **_WHO}, ["name", "role"]),
            ),
        },
        "/api/users/{name}": {
            "put": {
                "summary": "Change a role; the last admin cannot be demoted (admin)",
                "security": _WRITE,
                "parameters": [_NAME],
                "requestBody": _body({"role": role, **_WHO}, ["role"]),
                "responses": _resp(200, 400, 401, 403, 404),
            },
            "delete": {
                "summary": "Remove an account; not yourself, not the last admin (admin)",
                "security": _WRITE,
                "parameters": [_NAME],
                "responses": _resp(200, 400, 401, 403, 404),
            },
        },
        "/api/users/{name}/reset": {
            "post": {
                **_post("New temporary password (admin)", _body(_WHO), 404)["post"],
                "parameters": [_NAME],
            }
        },
        "/api/diagnostics": _get(
            "Diagnostics zip: status, drivers, masked config, checks, events (admin)",
            kind="application/zip",
        ),
        "/api/wipe": _post(
            "Record a data_destruction event, wait until it is sent upstream, and stop the box "
            "for 'safetybox wipe' to shred the keys (admin)",
            _body(
                {
                    "confirm": {"type": "string", "description": "the box id"},
                    "upstream_wait_s": {"type": "number", "minimum": 0, "maximum": 120},
                    **_WHO,
                },
                ["confirm"],
            ),
            400,
        ),
        "/api/backup": _get(
            "Consistent copy of the store, still encrypted with the store key (admin)",
            kind="application/octet-stream",
        ),
        "/api/site/plan": {
            "put": {
                "summary": "Upload the site plan (PNG or JPEG, at most 5 MB) (admin)",
                "security": _WRITE,
                "requestBody": {
                    "required": True,
                    "content": {
                        "image/png": {"schema": {"type": "string", "format": "binary"}},
                        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": _resp(200, 400, 401, 403),
            }
        },
        "/api/site/positions": _post(
            "Place a channel on the plan, in percent (admin)",
            _body(
                {
                    "channel": {"type": "string"},
                    "x": {"type": "number"},
                    "y": {"type": "number"},
                },
                ["channel", "x", "y"],
            ),
        ),
    }


def _view_paths() -> dict[str, Any]:
    channel = {"name": "channel", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/trend/{channel}": _get(
            "Min/max/mean per bucket for the last hour, day or week",
            400,
            404,
            params=[
                channel,
                _query("range", {"type": "string", "enum": ["hour", "day", "week"]}, "span"),
            ],
        ),
        "/api/channels/{channel}/registers": _get(
            "The raw registers last read for a Modbus channel's device (sensors verify)",
            404,
            409,
            params=[channel],
        ),
        "/api/alarms/history": _get(
            "Stored alarm events, newest first (at most 500)",
            400,
            params=[
                _query("kind", {"type": "string"}, "e.g. alarm_raised; empty: all alarm kinds"),
                _query("source", {"type": "string"}, "alarm or channel id"),
                _query("hours", {"type": "number"}, "how far back (0.1 to 8784)"),
            ],
        ),
        "/api/site": _get("Whether a plan is uploaded, and the channels' positions"),
        "/api/system": _get("Doctor checks, CPU temperature, time"),
    }
