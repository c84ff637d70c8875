"""The box's HTTP side: a Flask app factory with one blueprint per area.

For now it serves the JSON status and the config-reload API; the web page builds on it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound

from box.web.admin_pages import bp as admin_bp
from box.web.alarms_api import bp as alarms_bp
from box.web.api import bp as api_bp
from box.web.auth import csrf_token, current_user
from box.web.config_api import bp as config_api_bp
from box.web.config_pages import bp as config_bp
from box.web.i18n import lang, t
from box.web.pages import bp as pages_bp
from box.web.site_pages import bp as site_bp


def _idle_minutes(box: Any) -> float:
    web = getattr(getattr(box, "config", None), "web", None)
    return float(getattr(web, "session_idle_min", 30))


def create_app(box: Any, test_config: dict[str, Any] | None = None) -> Flask:
    """``box`` is the running daemon (or a test double with the same methods)."""
    app = Flask(__name__)
    secret = (
        getattr(box, "web_secret", None)
        or hashlib.sha256(
            b"safetybox web session\n" + str(getattr(box, "api_token", "")).encode()
        ).digest()
    )
    app.config.update(
        BOX=box,
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="safetybox_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=bool(getattr(box, "https", False)),
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        SESSION_IDLE_S=_idle_minutes(box) * 60,
        MAX_CONTENT_LENGTH=1 << 20,
    )
    app.jinja_env.globals.update(t=t, lang=lang, csrf_token=csrf_token, user=current_user)
    app.json.sort_keys = False  # type: ignore[attr-defined] - keep the documented field order
    if test_config:
        app.config.update(test_config)
    app.register_blueprint(pages_bp)
    app.register_blueprint(config_bp)
    app.register_blueprint(site_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(config_api_bp)
    app.register_blueprint(alarms_bp)

    @app.after_request
    def remember_language(resp: Any) -> Any:
        if request.args.get("lang"):
            resp.set_cookie("lang", lang(), samesite="Strict", max_age=365 * 86400)
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        """JSON for the API (and for unknown paths); pages keep Flask's plain error page."""
        if exc.code == 413:
            exc.description = "request too large: site plans up to 5 MB, anything else 1 MB"
        if request.path.startswith("/api/") or exc.code in (404, 405):
            if exc.description == NotFound.description:  # no such route, not a missing thing
                return jsonify(error="not found", hint="see /api/openapi.json"), 404
            return jsonify(error=exc.description), exc.code
        return exc

    return app
