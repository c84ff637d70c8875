"""The local API token (until user accounts exist): required on every write."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from flask import current_app, jsonify, request


def require_token(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse the request unless it carries ``Authorization: Bearer <keys/api.key>``."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        box = current_app.config["BOX"]
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if not header.startswith("Bearer ") or not hmac.compare_digest(token, box.api_token):
            return jsonify(error="missing or wrong API token (Authorization: Bearer ...)"), 401
        return view(*args, **kwargs)

    return wrapped


def body() -> dict[str, Any]:
    """The JSON body as a dict ({} for anything else), whatever the Content-Type says."""
    data = request.get_json(silent=True, force=True)
    return data if isinstance(data, dict) else {}


def who(data: dict[str, Any]) -> str:
    name = data.get("who")
    return f"api:{name[:64]}" if isinstance(name, str) and name.strip() else "api"
