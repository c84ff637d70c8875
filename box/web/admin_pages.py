"""Admin pages: accounts, the diagnostics bundle and the encrypted backup."""

from __future__ import annotations

import io
import json
import secrets
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
)

from box.web.accounts import ROLES, AccountError
from box.web.audit import audit
from box.web.auth import body, page_role, require_role, who
from box.web.i18n import message as message_in_language
from box.web.i18n import t
from box.web.nav import NavItem
from box.web.port import current_box

bp = Blueprint("admin", __name__)
NAV = [NavItem("/users", "users", role="admin", order=50)]


@bp.get("/users")
@page_role("admin")
def users() -> Any:
    done, name, role = (request.args.get(k, "")[:64] for k in ("done", "user", "role"))
    shown = {"role": t("u.role_changed"), "removed": t("u.removed")}.get(done)
    return _users_page(shown.format(user=name, role=t("role." + role)) if shown else None)


def _users_page(message: str | None = None, error: str | None = None, status: int = 200) -> Any:
    return render_template(
        "users.html",
        users=current_box().accounts.list(),
        roles=ROLES,
        message=message,
        error=message_in_language(error) if error else None,
    ), status


def _temporary(name: str, password: str) -> Any:
    """The new temporary password, shown once on this page (never put in a URL, where it would
    stay in the browser's history and the logs)."""
    return _users_page(t("u.temporary").format(user=name, password=password))


def _create(name: str, role: str, by: str) -> str:
    """A new account with a temporary password (returned), changed at its first login."""
    password = secrets.token_urlsafe(12)
    current_box().accounts.create(name, password, role, must_change=True)
    audit("user_created", user=name, role=role, by=by)
    return password


def _reset(name: str, by: str) -> str | None:
    """A new temporary password for ``name``, or None if there is no such account."""
    if current_box().accounts.get(name) is None:
        return None
    password = secrets.token_urlsafe(12)
    current_box().accounts.set_password(name, password, must_change=True)
    audit("password_reset", user=name, by=by)
    return password


@bp.post("/users")
@page_role("admin")
def add_user() -> Any:
    name, role = request.form.get("name", "").strip(), request.form.get("role", "")
    try:
        password = _create(name, role, g.user.name)
    except AccountError as exc:
        return _users_page(error=str(exc), status=400)
    return _temporary(name, password)


@bp.post("/users/<name>/reset")
@page_role("admin")
def reset_user(name: str) -> Any:
    password = _reset(name, g.user.name)
    if password is None:
        abort(404, f"no account {name!r}")
    return _temporary(name, password)


def _set_role(name: str, role: str, by: str) -> None:
    current_box().accounts.set_role(name, role)
    audit("user_role_changed", user=name, role=role, by=by)


def _remove(name: str, by: str) -> None:
    current_box().accounts.remove(name)
    audit("user_removed", user=name, by=by)


def _users_page_error(exc: AccountError) -> Any:
    return _users_page(error=str(exc), status=404 if str(exc).startswith("no account") else 400)


@bp.post("/users/<name>/role")
@page_role("admin")
def set_role(name: str) -> Any:
    role = request.form.get("role", "")
    try:
        _set_role(name, role, g.user.name)
    except AccountError as exc:
        return _users_page_error(exc)
    return redirect(f"/users?{urlencode({'done': 'role', 'user': name, 'role': role})}")


@bp.post("/users/<name>/remove")
@page_role("admin")
def remove_user(name: str) -> Any:
    if name == g.user.name:
        return _users_page_error(AccountError("you cannot remove your own account"))
    try:
        _remove(name, g.user.name)
    except AccountError as exc:
        return _users_page_error(exc)
    return redirect(f"/users?{urlencode({'done': 'removed', 'user': name})}")


@bp.get("/api/users")
@require_role("admin")
def users_api() -> Any:
    return jsonify(users=[_user_json(u) for u in current_box().accounts.list()], roles=list(ROLES))


def _user_json(user: Any) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "must_change": user.must_change}


@bp.post("/api/users")
@require_role("admin")
def add_user_api() -> Any:
    data = body()
    name, role = data.get("name"), data.get("role")
    if not isinstance(name, str) or not isinstance(role, str):
        return jsonify(error='send {"name": ..., "role": viewer|operator|admin}'), 400
    try:
        password = _create(name.strip(), role, who(data))
    except AccountError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(name=name.strip(), role=role, temporary_password=password)


@bp.put("/api/users/<name>")
@require_role("admin")
def set_role_api(name: str) -> Any:
    data = body()
    role = data.get("role")
    if not isinstance(role, str):
        return jsonify(error='send {"role": "viewer" | "operator" | "admin"}'), 400
    try:
        _set_role(name, role, who(data))
    except AccountError as exc:
        return jsonify(error=str(exc)), (404 if str(exc).startswith("no account") else 400)
    return jsonify(name=name, role=role)


@bp.delete("/api/users/<name>")
@require_role("admin")
def remove_user_api(name: str) -> Any:
    actor = g.get("actor")
    if actor is not None and actor.name == name:
        return jsonify(error="you cannot remove your own account"), 400
    try:
        _remove(name, who(body()))
    except AccountError as exc:
        return jsonify(error=str(exc)), (404 if str(exc).startswith("no account") else 400)
    return jsonify(removed=name)


@bp.post("/api/users/<name>/reset")
@require_role("admin")
def reset_user_api(name: str) -> Any:
    password = _reset(name, who(body()))
    if password is None:
        return jsonify(error=f"no account {name!r}"), 404
    return jsonify(name=name, temporary_password=password)


@bp.get("/system/diagnostics")
@page_role("admin")
def diagnostics() -> Any:
    return _diagnostics(g.user.name)


@bp.get("/api/diagnostics")
@require_role("admin")
def diagnostics_api() -> Any:
    return _diagnostics(who({}))


def _diagnostics(by: str) -> Any:
    """A zip a technician can send to support: status, drivers' last frames, masked config,
    doctor checks and the latest events. No keys, no passwords."""
    from box.config.secrets import mask_secrets
    from box.doctor import run_checks

    box = current_box()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("status.json", json.dumps(box.snapshot(), indent=2, default=str))
        z.writestr(
            "drivers.json",
            json.dumps(
                box.driver_diagnostics(),
                indent=2,
                default=str,
            ),
        )
        z.writestr(
            "config.json", json.dumps(mask_secrets(box.config.model_dump(mode="json")), indent=2)
        )
        z.writestr("doctor.json", json.dumps([c.__dict__ for c in run_checks(box.home)], indent=2))
        rows = box.reader.execute(
            "SELECT seq, ts, kind, level, source, details FROM events ORDER BY seq DESC LIMIT 2000"
        ).fetchall()
        z.writestr(
            "events.jsonl",
            "".join(
                json.dumps(
                    {
                        "seq": r[0],
                        "ts": r[1],
                        "kind": r[2],
                        "level": r[3],
                        "source": r[4],
                        "details": json.loads(r[5]),
                    }
                )
                + "\n"
                for r in reversed(rows)
            ),
        )
    buf.seek(0)
    audit("diagnostics_downloaded", by=by)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return send_file(
        buf,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"safetybox-{box.box_id}-diagnostics-{stamp}.zip",
    )


@bp.get("/system/backup")
@page_role("admin")
def backup() -> Any:
    return _backup(g.user.name)


@bp.get("/api/backup")
@require_role("admin")
def backup_api() -> Any:
    return _backup(who({}))


def _backup(by: str) -> Any:
    """A consistent copy of the store, still encrypted with the store key (SQLite's online
    backup between two keyed connections). Restoring it needs that key: keep it apart."""
    box = current_box()
    with tempfile.TemporaryDirectory(prefix="safetybox-backup-") as tmp:
        target_path = Path(tmp) / "backup.db"
        box.backup_to(target_path)
        data = target_path.read_bytes()
    audit("backup_downloaded", by=by, bytes=len(data))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return send_file(
        io.BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"safetybox-{box.box_id}-{stamp}.db",
    )
