"""Who may do what: the local API token (CLI, tools) or a logged-in user with a role.

A write needs either ``Authorization: Bearer <keys/api.key>`` (browsers never send it, so it
cannot be forged cross-site) or the session cookie of a user whose role allows it *and* that
session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``). Sessions end after
``web.session_idle_min`` without a request, at logout and when the password changes (the box
keeps a registry of live sessions: a copied cookie is void after either); roles are re-read from
the store on every request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, g, jsonify, redirect, request, session

from box.web.accounts import User
from box.web.port import current_box
from box.web.sessions import SessionRegistry

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
WALL_SESSION = "wall-display"  # not a valid account name, so never a real user
WALL_USER = User(WALL_SESSION, "viewer", False)


def wall_key() -> str:
    """The box's read-only wall display key, derived from its API token (rotating the token
    ends every wall session)."""
    token = current_box().api_token.encode()
    return hmac.new(token, b"safetybox wall display", hashlib.sha256).hexdigest()[:32]


def _wall_session_ok() -> bool:
    saved = session.get("wall")
    expected = hashlib.sha256(wall_key().encode()).hexdigest()
    return isinstance(saved, str) and hmac.compare_digest(saved, expected)


def bearer_ok() -> bool:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip()
    return header.startswith("Bearer ") and hmac.compare_digest(token, current_box().api_token)


def sessions() -> SessionRegistry:
    registry: SessionRegistry = current_app.extensions["safetybox.sessions"]
    return registry


def current_user() -> User | None:
    """The logged-in user, or None (no session, idle too long, logged out, password changed
    since, or the account is gone)."""
    if "user" in g:
        return g.user
    g.user = None
    if session.get("user") == WALL_SESSION:
        # The wall display: sees like a viewer, never acts, does not time out when idle.
        g.user = WALL_USER if _wall_session_ok() else None
        return g.user
    name = session.get("user")
    accounts = current_box().accounts
    if name is None or accounts is None:
        return None
    idle_s = current_app.config.get("SESSION_IDLE_S", 1800)
    user = accounts.get(name)
    if (
        user is None
        or time.time() - session.get("seen", 0) > idle_s
        or not sessions().valid(session.get("sid"), user.name, user.stamp)
    ):
        end_session()
        return None
    session["seen"] = time.time()
    g.user = user
    return g.user


def login_session(user: User) -> None:
    """A fresh session id (and CSRF token) at every login and password change: no fixation."""
    sessions().close(session.get("sid"))
    session.clear()
    sid = sessions().open(user.name, user.stamp)
    session.update(user=user.name, sid=sid, seen=time.time(), csrf=secrets.token_urlsafe(24))
    session.permanent = True
    g.user = user


def end_session() -> None:
    """Logout: the session id is forgotten by the box, not only by this browser."""
    sessions().close(session.get("sid"))
    session.clear()
    g.user = None


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def csrf_ok() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return bool(session.get("csrf")) and hmac.compare_digest(sent, session["csrf"])


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """For JSON writes: the API token, or a user with ``role`` and a valid CSRF token."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if bearer_ok():
                g.actor = None
                return view(*args, **kwargs)
            user = current_user()
            if user is None:
                return jsonify(error="log in, or send the API token (Authorization: Bearer)"), 401
            if request.method in UNSAFE and not csrf_ok():
                return jsonify(error="missing or wrong CSRF token (X-CSRF-Token)"), 400
            if user.must_change:
                return jsonify(error="change your initial password first"), 403
            if not user.can(role):
                return jsonify(error=f"your role ({user.role}) may not do this; needs {role}"), 403
            g.actor = user
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # read by tests and docs
        return wrapped

    return decorate


def body() -> dict[str, Any]:
    """The JSON body as a dict ({} for anything else), whatever the Content-Type says."""
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # JSON nested thousands deep: a clear 400, not an anonymous 500
        abort(400, "the JSON body is nested too deeply")
    return data if isinstance(data, dict) else {}


def who(data: dict[str, Any]) -> str:
    """Who did it, for the audit trail: the logged-in user, or the API caller's name."""
    # require_role sets g.actor (None for the API token); page_role leaves g.user.
    actor = g.actor if "actor" in g else g.get("user")
    if actor is not None:
        return f"web:{actor.name}"
    name = data.get("who")
    return f"api:{name[:64]}" if isinstance(name, str) and name.strip() else "api"


def page_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """For HTML pages: log in first, change the initial password first, then the role; a POST
    also needs the session's CSRF token. The view finds the user in ``g.user``."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect("/login")
            if user.must_change:
                return redirect("/password")
            if not user.can(role):
                abort(403, f"your role ({user.role}) may not do this; needs {role}")
            if request.method in UNSAFE and not csrf_ok():
                abort(400, "missing or wrong CSRF token")
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # read by tests and docs
        return wrapped

    return decorate
