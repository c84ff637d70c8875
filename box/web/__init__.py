"""The box's HTTP side: a Flask app factory with one blueprint per area.

The app sees the box only through its port (:class:`box.web.port.WebBox`): status, alarms and
commands, accounts and the store's read side; never the daemon.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from types import ModuleType
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, NotFound

from box.core import plugins
from box.web.auth import csrf_token, current_user
from box.web.i18n import check_name, duration, lang, t, texts
from box.web.login_throttle import LoginThrottle
from box.web.nav import NavItem, nav_items
from box.web.port import WebBox
from box.web.push import BUILTIN_SOURCES, MAX_STREAMS, Hub, PushSource
from box.web.sessions import SessionRegistry

# Everything the page uses comes from the box itself; no inline script may run, no other site
# may frame the page (clickjacking of the acknowledge buttons), no referrer leaves the box.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

log = logging.getLogger(__name__)

# Each area: a module with a blueprint ``bp`` and optionally ``NAV`` (see box/web/nav.py).
AREAS = (
    "box.web.pages",
    "box.web.site_pages",
    "box.web.camera_pages",
    "box.web.config_pages",
    "box.web.admin_pages",
    "box.web.api",
    "box.web.config_api",
    "box.web.alarms_api",
    "box.web.wipe_api",
    "box.web.people_api",
    "box.web.live_pages",
)
ENTRY_POINT_GROUP = plugins.WEB


def _areas() -> list[ModuleType]:
    """The built-in areas, then those other packages add (a broken one is logged, skipped:
    the page, and certainly the alarms, must not depend on a plug-in importing)."""
    modules = [importlib.import_module(name) for name in AREAS]
    extra: plugins.Loaded[ModuleType] = plugins.load(plugins.WEB, _has_blueprint)
    return modules + list(extra.items.values())


def _has_blueprint(name: str, module: object) -> str:
    return (
        "" if isinstance(getattr(module, "bp", None), Blueprint) else "has no Flask blueprint 'bp'"
    )


def create_app(box: WebBox, test_config: dict[str, Any] | None = None) -> Flask:
    """``box`` is the running box's facade (:class:`box.web.port.WebBox`) or a test double."""
    app = Flask(__name__)
    secret = hashlib.sha256(b"safetybox web session\n" + box.api_token.encode()).digest()
    app.config.update(
        BOX=box,
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="safetybox_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=box.https,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        SESSION_IDLE_S=box.config.web.session_idle_min * 60,
        MAX_CONTENT_LENGTH=1 << 20,
    )
    app.extensions["safetybox.sessions"] = SessionRegistry()
    app.extensions["safetybox.throttle"] = LoginThrottle()
    app.jinja_env.globals.update(
        t=t,
        lang=lang,
        texts=texts,
        csrf_token=csrf_token,
        user=current_user,
        box_name=lambda: box.config.box.name,
        box_id=lambda: box.box_id,
        site_name=lambda: box.config.box.site or box.config.box.name,
        output_label=output_label,
        check_name=check_name,
        duration=duration,
        push_initial=lambda topics: app.extensions["safetybox.push"].sample(
            frozenset(("alarms", "box", *str(topics).split()))
        ),
    )
    app.jinja_env.filters["diff_html"] = diff_html
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own: keep the documented order
        app.json.sort_keys = False
    if test_config:
        app.config.update(test_config)
    nav: list[NavItem] = []
    sources: list[PushSource] = list(BUILTIN_SOURCES)
    for area in _areas():
        app.register_blueprint(area.bp)
        nav += getattr(area, "NAV", [])
        sources += getattr(area, "PUSH", [])
    app.config["NAV"] = nav
    app.extensions["safetybox.push"] = Hub(
        box, sources, app.config.get("PUSH_MAX_STREAMS", MAX_STREAMS)
    )
    app.jinja_env.globals.update(nav=nav_items)

    @app.after_request
    def remember_language(resp: Any) -> Any:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            resp.headers.setdefault("Cache-Control", "no-store")
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


def output_label(name: str) -> str:
    """An output's name in words: "Red lamp", "Relay tank-farm-valve"."""
    kind, _, rest = name.partition(":")
    if rest:
        return f"{t('out.' + kind) if kind in ('relay', 'plugin') else kind} {rest}"
    label = t("out." + name)
    return name if label == "out." + name else label


def diff_html(diff: str) -> Any:
    """A unified diff with each line marked added, removed, hunk or header (coloured by CSS,
    and still starting with its +/- sign, so it reads without colour too)."""
    from markupsafe import Markup, escape

    out = []
    for line in diff.splitlines():
        cls = (
            "meta"
            if line.startswith(("+++", "---"))
            else {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        )
        out.append(f'<span class="{cls}">{escape(line)}</span>')
    return Markup("".join(out))  # noqa: S704 - every line escaped above
