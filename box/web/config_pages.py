"""Configuration on the web page (admin): edit box.toml, checked by the same schema as the file.

Nothing is applied until the text is valid; a diff is shown before saving; saving refuses if
the file changed meanwhile; the last good configs (data/config-history) can be restored.
"""

from __future__ import annotations

import difflib
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request

from box.atomic import write_atomic
from box.config.changes import digest
from box.config.loader import ConfigInvalid, parse_config
from box.errors import ConfigError
from box.web.auth import page_role

bp = Blueprint("config_pages", __name__)


def _box() -> Any:
    return current_app.config["BOX"]


def _history() -> list[str]:
    folder = _box().home.config_history_dir
    return sorted((p.name for p in folder.glob("box-*.toml")), reverse=True)[:20]


def _render(text: str, status: int = 200, **ctx: Any) -> Any:
    current = _box().home.config_file.read_text(encoding="utf-8")
    ctx.setdefault("base", digest(current))
    return render_template("config.html", text=text, history=_history(), **ctx), status


@bp.get("/config")
@page_role("admin")
def show() -> Any:
    return _render(
        _box().home.config_file.read_text(encoding="utf-8"), message=request.args.get("message")
    )


def _check(text: str) -> Any:
    """Validate ``text``: the errors page, or the diff with an Apply button."""
    try:
        parse_config(text, "box.toml")
    except ConfigInvalid as exc:
        return _render(text, 400, issues=exc.issues)
    except ConfigError as exc:
        return _render(text, 400, issues=[], error=str(exc))
    current = _box().home.config_file.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            current.splitlines(True), text.splitlines(True), "box.toml (running)", "box.toml (new)"
        )
    )
    return _render(text, diff=diff or "(no change)", valid=True)


@bp.post("/config/check")
@page_role("admin")
def check() -> Any:
    return _check(request.form.get("text", "").replace("\r\n", "\n"))


@bp.post("/config/restore")
@page_role("admin")
def restore() -> Any:
    name = request.form.get("name", "")
    if name not in _history():
        abort(404, "no such saved config")
    return _check((_box().home.config_history_dir / name).read_text(encoding="utf-8"))


@bp.post("/config/apply")
@page_role("admin")
def apply() -> Any:
    text = request.form.get("text", "").replace("\r\n", "\n")
    path = _box().home.config_file
    if request.form.get("base") != digest(path.read_text(encoding="utf-8")):
        return _render(text, 409, error="box.toml changed since you loaded it: check again")
    try:
        parse_config(text, "box.toml")
    except ConfigInvalid as exc:
        return _render(text, 400, issues=exc.issues)
    write_atomic(path, text, mode=0o640)
    result = _box().reload(who=f"web:{g.user.name}")
    if not result["accepted"]:
        return _render(text, 422, error="; ".join(result["errors"]))
    changed = ", ".join(result["changed"][:10]) or "nothing"
    return redirect(f"/config?message=applied: {changed}")
