"""The HTML pages: login, password change, dashboard. Everything is served by the box."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)

from box.core.errors import CommandRefused
from box.core.levels import Level
from box.core.records import now_ms
from box.web.accounts import AccountError, User
from box.web.audit import audit
from box.web.auth import (
    body,
    csrf_ok,
    csrf_token,
    current_user,
    end_session,
    login_session,
    page_role,
    require_role,
    wall_key,
)
from box.web.i18n import message, t
from box.web.login_throttle import LoginThrottle
from box.web.nav import NavItem
from box.web.port import current_box

bp = Blueprint("pages", __name__)
NAV = [NavItem("/", "dashboard", order=10), NavItem("/system", "system", order=30)]


def _page(template: str, status: int = 200, **ctx: Any) -> Any:
    return make_response(render_template(template, **ctx), status)


@bp.get("/login")
def login_form() -> Any:
    return _page("login.html")


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions["safetybox.throttle"]
    return throttle


def _too_many_attempts() -> bool:
    """This address failed too often overall (many names): it waits a minute."""
    return _throttle().wait_s("", request.remote_addr or "?")[1] == "address"


def _login(name: Any, password: Any) -> tuple[User | None, str]:
    """Check the credentials and start a session: (the user, "") or (None, why not).
    Failures slow down further tries of that name from that address (box.web.login_throttle),
    with the same answer whether the account exists or not."""
    accounts = current_box().accounts
    if accounts is None:
        abort(503)
    name = name[:64] if isinstance(name, str) else ""
    address = request.remote_addr or "?"
    wait, _ = _throttle().wait_s(name, address)
    if wait > 0:
        _throttle().refused(address)
        error = f"too many failed logins: try again in {math.ceil(wait)} s"
        audit("login_failed", Level.LEVEL_3, user=name, reason=error)
        return None, error
    try:
        user = accounts.verify(name, password if isinstance(password, str) else "")
    except AccountError as exc:
        _throttle().failed(name, address)
        audit("login_failed", Level.LEVEL_3, user=name, reason=str(exc))
        return None, str(exc)
    _throttle().succeeded(name, address)
    login_session(user)
    audit("login", user=user.name, role=user.role)
    return user, ""


@bp.post("/login")
def login() -> Any:
    if _too_many_attempts():
        return _page("login.html", 429, error=message("too many attempts: wait a minute"))
    if not csrf_ok():
        return _page("login.html", 400, error=message("the form expired: load the page again"))
    user, error = _login(request.form.get("user"), request.form.get("password"))
    if user is None:
        return _page("login.html", 401, error=message(error))
    return redirect("/password" if user.must_change else "/")


@bp.post("/logout")
def logout() -> Any:
    user = current_user()
    if user is not None and csrf_ok():
        audit("logout", user=user.name)
        end_session()
    return redirect("/login")


def _session_json(user: User) -> Any:
    return jsonify(
        user=user.name, role=user.role, must_change=user.must_change, csrf_token=csrf_token()
    )


@bp.post("/api/session")
def api_login() -> Any:
    """Log in for the JSON API: the session cookie, and the CSRF token for later writes.
    Only ``application/json`` is accepted, which a page on another site cannot send."""
    if not request.is_json:
        return jsonify(error="send JSON with Content-Type: application/json"), 415
    if _too_many_attempts():
        return jsonify(error="too many attempts: wait a minute"), 429
    data = body()
    user, error = _login(data.get("user"), data.get("password"))
    if user is None:
        return jsonify(error=error), 401
    return _session_json(user)


@bp.get("/api/session")
def api_whoami() -> Any:
    user = current_user()
    if user is None:
        return jsonify(error="not logged in"), 401
    return _session_json(user)


@bp.delete("/api/session")
def api_logout() -> Any:
    user = current_user()
    if user is None:
        return jsonify(error="not logged in"), 401
    if not csrf_ok():
        return jsonify(error="missing or wrong CSRF token (X-CSRF-Token)"), 400
    audit("logout", user=user.name)
    end_session()
    return jsonify(logged_out=user.name)


@bp.post("/api/password")
def api_change_password() -> Any:
    """Change the logged-in user's password (also the forced change after the first login)."""
    user = current_user()
    if user is None:
        return jsonify(error="not logged in"), 401
    if not csrf_ok():
        return jsonify(error="missing or wrong CSRF token (X-CSRF-Token)"), 400
    data = body()
    old, new = data.get("old"), data.get("new")
    if not isinstance(old, str) or not isinstance(new, str):
        return jsonify(error='send {"old": ..., "new": ...}'), 400
    try:
        current_box().accounts.change_password(user.name, old, new)
    except AccountError as exc:
        return jsonify(error=str(exc)), 400
    audit("password_changed", user=user.name)
    _renew(user.name)  # every other session of this user (a copied cookie too) is void now
    return _session_json(g.user)


def _renew(name: str) -> None:
    """A new session (with the new password's stamp) for the browser that changed it."""
    user = current_box().accounts.get(name)
    if user is None:
        abort(403)
    login_session(user)


@bp.get("/password")
def password_form() -> Any:
    if current_user() is None:
        return redirect("/login")
    return _page("password.html")


@bp.post("/password")
def change_password() -> Any:
    user = current_user()
    if user is None:
        return redirect("/login")
    if not csrf_ok():
        return _page("password.html", 400, error=message("the form expired: load the page again"))
    if request.form.get("new", "") != request.form.get("confirm", ""):
        return _page("password.html", 400, error=t("pw.mismatch"))
    try:
        current_box().accounts.change_password(
            user.name, request.form.get("old", ""), request.form.get("new", "")
        )
    except AccountError as exc:
        return _page("password.html", 400, error=message(str(exc)))
    audit("password_changed", user=user.name)
    _renew(user.name)
    return redirect("/")


@bp.get("/")
@page_role("viewer")
def dashboard() -> Any:
    return dashboard_page(wall=False)


def dashboard_page(wall: bool) -> Any:
    """The dashboard, or the wall display (dark, big, no navigation, never any buttons). The
    alarm list is drawn by the page's script from the push channel (initially from the data
    embedded in the page), so there is one way rows are drawn and patched."""
    return _page("dashboard.html", status_=current_box().snapshot(), wall=wall)


SHELVE_MINUTES = (30, 60, 240, 480, 1440)


@bp.post("/alarms/<alarm_id>/<action>")
@page_role("operator")
def alarm_action(alarm_id: str, action: str) -> Any:
    user = g.user
    who = f"web:{user.name}"
    if action == "shelve":
        try:
            minutes = int(request.form.get("minutes", ""))
        except ValueError:
            abort(400, "choose how long to shelve")
        if minutes not in SHELVE_MINUTES:
            abort(400, f"shelve for one of {SHELVE_MINUTES} minutes")
        reason = request.form.get("reason", "").strip()[:200]
        box = current_box()
        command: Callable[[], object] = lambda: box.shelve(alarm_id, who, minutes * 60, reason)  # noqa: E731
    elif action == "ack":
        command = lambda: current_box().ack(alarm_id, who)  # noqa: E731
    elif action == "reset":
        command = lambda: current_box().reset(alarm_id, who)  # noqa: E731
    elif action == "unshelve":
        command = lambda: current_box().unshelve(alarm_id, who)  # noqa: E731
    else:
        abort(404)
    try:
        command()
    except CommandRefused as exc:
        abort(409, str(exc))
    return redirect("/")


@bp.post("/silence")
@page_role("operator")
def silence() -> Any:
    user = g.user
    current_box().silence(f"web:{user.name}")
    return redirect("/")


@bp.get("/system")
@page_role("viewer")
def system() -> Any:
    from box.doctor import run_checks

    return _page(
        "system.html",
        status_=current_box().snapshot(),
        checks=run_checks(current_box().home),
        cpu_temp=_cpu_temperature(),
        now=local_time(now_ms()),
        wall_key=wall_key() if g.user.can("admin") else "",
    )


@bp.get("/api/system")
@require_role("viewer")
def system_api() -> Any:
    """What the system page shows beyond /api/status: doctor checks, CPU temperature, time."""
    from box.doctor import run_checks

    return jsonify(
        checks=[c.__dict__ for c in run_checks(current_box().home)],
        cpu_temperature=_cpu_temperature(),
        time_ms=now_ms(),
    )


def _trend(channel: str, range_name: str) -> tuple[dict[str, Any], list[Any]]:
    from box.store.trends import RANGES, trend

    status = current_box().snapshot()
    ch = next((c for c in status["channels"] if c["id"] == channel), None)
    if ch is None:
        abort(404, f"no channel {channel!r}")
    if range_name not in RANGES:
        abort(400, f"range is one of {', '.join(RANGES)}")
    return ch, trend(current_box().reader, channel, range_name, now_ms())


@bp.get("/trend/<channel>")
@page_role("viewer")
def trend_page(channel: str) -> Any:
    """One or more channels (``?with=a,b``) over the chosen range, drawn by uPlot (vendored)
    from /api/trend and extended live from the push channel."""
    from box.store.trends import RANGES

    range_name = request.args.get("range", "hour")
    ch, _ = _trend(channel, range_name)
    status = current_box().snapshot()
    extra = [c for w in request.args.getlist("with") for c in w.split(",") if c and c != channel]
    known = {c["id"]: c for c in status["channels"]}
    shown = [ch] + [known[c] for c in extra if c in known]
    return _page(
        "trend.html",
        ch=ch,
        shown=shown,
        all_channels=status["channels"],
        range_name=range_name,
        ranges=list(RANGES),
    )


@bp.get("/api/trend/<channel>")
@require_role("viewer")
def trend_api(channel: str) -> Any:
    """Min/max/mean per bucket (1 min for an hour, 10 min for a day, 1 h for a week)."""
    range_name = request.args.get("range", "hour")
    ch, points = _trend(channel, range_name)
    from box.store.trends import RANGES

    span_min, bucket_min = RANGES[range_name]
    return jsonify(
        channel=channel,
        unit=ch.get("unit"),
        range=range_name,
        now_ms=now_ms(),
        span_ms=span_min * 60_000,
        bucket_ms=bucket_min * 60_000,
        thresholds=ch.get("thresholds", {}),
        points=[{"t": t, "min": lo, "max": hi, "mean": mean} for t, lo, hi, mean in points],
    )


HISTORY_KINDS = (
    "alarm_raised",
    "alarm_cleared",
    "alarm_acked",
    "alarm_reset",
    "alarm_shelved",
    "alarm_unshelved",
    "alarm_silenced",
    "alarm_flood",
    "fault",
    "maintenance_escalation",
)


def _history(args: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Stored alarm events, newest first (at most 500), filtered by kind, source and hours
    back; also the filters as understood. A bad ``hours`` is a 400."""
    kind = args.get("kind", "")
    source = args.get("source", "").strip()[:64]
    try:
        hours = float(args.get("hours", "24"))
    except ValueError:
        abort(400, "hours must be a number")
    if not math.isfinite(hours):
        abort(400, "hours must be a number")
    hours = min(max(hours, 0.1), 24 * 366)
    kinds = [kind] if kind in HISTORY_KINDS else list(HISTORY_KINDS)
    since = now_ms() - int(hours * 3_600_000)
    marks = ",".join("?" * len(kinds))
    sql = (
        f"SELECT seq, ts, kind, level, source, details FROM events WHERE kind IN ({marks}) "  # noqa: S608 - placeholders only
        "AND ts >= ? AND (? = '' OR source = ?) ORDER BY seq DESC LIMIT 500"
    )
    rows = current_box().reader.execute(sql, (*kinds, since, source, source)).fetchall()
    events = [
        {
            "seq": seq,
            "ts": ts,
            "time": local_time(ts),
            "time_utc": datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kind": k,
            "level": level,
            "source": src,
            "details": json.loads(d),
        }
        for seq, ts, k, level, src, d in rows
    ]
    return events, {"kind": kind if kind in HISTORY_KINDS else "", "source": source, "hours": hours}


@bp.get("/alarms/history")
@page_role("viewer")
def alarm_history() -> Any:
    events, filters = _history(request.args)
    return _page("history.html", events=events, kinds=HISTORY_KINDS, **filters)


@bp.get("/alarms/history.csv")
@page_role("viewer")
def alarm_history_csv() -> Any:
    """The same rows as the page, as CSV (UTF-8 with a BOM, so spreadsheet tools read the
    Chinese text right)."""
    import csv
    import io

    events, _ = _history(request.args)
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(["time_local", "time_utc", "kind", "level", "source", "alarm", "state", "who",
                "reason", "details"])  # fmt: skip
    for e in events:
        d = e["details"]
        w.writerow([
            e["time"], e["time_utc"], e["kind"], e["level"], e["source"], d.get("alarm", ""),
            d.get("state", ""), d.get("who", ""), d.get("reason", ""),
            json.dumps(d, ensure_ascii=False, sort_keys=True),
        ])  # fmt: skip
    resp = make_response(out.getvalue())
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = "attachment; filename=alarm-history.csv"
    return resp


def local_time(ts_ms: int) -> str:
    """The box's local time with its UTC offset (the site's clock, not the server's UTC)."""
    return datetime.fromtimestamp(ts_ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


@bp.get("/api/alarms/history")
@require_role("viewer")
def alarm_history_api() -> Any:
    events, filters = _history(request.args)
    return jsonify(events=events, filters=filters, kinds=list(HISTORY_KINDS))


def _cpu_temperature() -> str:
    zone = Path("/sys/class/thermal/thermal_zone0/temp")
    try:
        return f"{int(zone.read_text()) / 1000:.1f} °C"
    except (OSError, ValueError):
        return "n/a"
