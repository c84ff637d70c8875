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

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, send_file

from box.readings import now_ms
from box.store.events import Event, Level
from box.web.accounts import ROLES, AccountError
from box.web.auth import page_role

bp = Blueprint("admin", __name__)


def _box() -> Any:
    return current_app.config["BOX"]


def _audit(kind: str, **details: Any) -> None:
    _box().writer.submit_event(Event(kind, "web", now_ms(), Level.INFO, details))


@bp.get("/users")
@page_role("admin")
def users() -> Any:
    return render_template(
        "users.html", users=_box().accounts.list(), roles=ROLES, message=request.args.get("message")
    )


@bp.post("/users")
@page_role("admin")
def add_user() -> Any:
    user = g.user
    name, role = request.form.get("name", "").strip(), request.form.get("role", "")
    password = secrets.token_urlsafe(12)
    try:
        _box().accounts.create(name, password, role, must_change=True)
    except AccountError as exc:
        return render_template(
            "users.html", users=_box().accounts.list(), roles=ROLES, error=str(exc)
        ), 400
    _audit("user_created", user=name, role=role, by=user.name)
    return redirect(f"/users?message={name}: temporary password {password}")


@bp.post("/users/<name>/reset")
@page_role("admin")
def reset_user(name: str) -> Any:
    user = g.user
    if _box().accounts.get(name) is None:
        abort(404, f"no account {name!r}")
    password = secrets.token_urlsafe(12)
    _box().accounts.set_password(name, password, must_change=True)
    _audit("password_reset", user=name, by=user.name)
    return redirect(f"/users?message={name}: temporary password {password}")


@bp.get("/system/diagnostics")
@page_role("admin")
def diagnostics() -> Any:
    """A zip a technician can send to support: status, drivers' last frames, masked config,
    doctor checks and the latest events. No keys, no passwords."""
    user = g.user
    from box.cli.config_cmds import mask_secrets
    from box.doctor import run_checks

    box = _box()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("status.json", json.dumps(box.snapshot(), indent=2, default=str))
        z.writestr(
            "drivers.json",
            json.dumps(
                {s.name: getattr(s.driver, "diagnostics", dict)() for s in box.supervisors},
                indent=2,
                default=str,
            ),
        )
        z.writestr(
            "config.json", json.dumps(mask_secrets(box.config.model_dump(mode="json")), indent=2)
        )
        z.writestr("doctor.json", json.dumps([c.__dict__ for c in run_checks(box.home)], indent=2))
        rows = box.accounts.reader.execute(
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
    _audit("diagnostics_downloaded", by=user.name)
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
    """A consistent copy of the store, still encrypted with the store key (SQLite's online
    backup between two keyed connections). Restoring it needs that key: keep it apart."""
    user = g.user
    from box.keys import STORE_KEY
    from box.store.database import connect

    box = _box()
    key = box.keys.get(STORE_KEY)
    with tempfile.TemporaryDirectory(prefix="safetybox-backup-") as tmp:
        target_path = Path(tmp) / "backup.db"
        source = connect(box.home.database_file, key, readonly=True)
        target = connect(target_path, key)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        data = target_path.read_bytes()
    _audit("backup_downloaded", by=user.name, bytes=len(data))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return send_file(
        io.BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=f"safetybox-{box.box_id}-{stamp}.db",
    )
