"""The web page's security with Flask's test client over a real daemon and store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import create_app, pages
from tests.conftest import open_reader, png_bytes, run_cli, sim_body, wait_for, write_config

PASSWORD = "correct horse battery"


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Daemon, str]]:
    home = tmp_path / "box"
    info = json.loads(run_cli(home, "init", "--json").output)
    write_config(home, sim_body(interval=0.05, step_at=0.2, step_back=3600))
    d = Daemon(BoxHome.under(home))
    d.start()
    yield d, info["web_login"]["password"]
    d.stop()


@pytest.fixture
def client(box: tuple[Daemon, str]) -> FlaskClient:
    return create_app(box[0].api, {"TESTING": True}).test_client()


def csrf(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: FlaskClient, user: str, password: str) -> object:
    return client.post(
        "/login", data={"user": user, "password": password, "csrf_token": csrf(client)}
    )


def events(d: Daemon, kind: str) -> list[dict]:
    d.writer.flush()
    conn = open_reader(d.home.config_file.parent)
    try:
        sql = "SELECT details FROM events WHERE kind = ? ORDER BY seq"
        return [json.loads(x) for (x,) in conn.execute(sql, (kind,))]
    finally:
        conn.close()


def test_first_login_forces_a_password_change(box, client: FlaskClient) -> None:  # noqa: ANN001
    d, initial = box
    assert client.get("/").headers["Location"] == "/login"
    r = login(client, "admin", initial)
    assert r.status_code == 302 and r.headers["Location"] == "/password"
    assert client.get("/").headers["Location"] == "/password", "nothing else until changed"
    token = csrf(client, "/password")

    def change(
        new: str, confirm: str | None = None, old: str = initial, lang: str = "en"
    ) -> object:
        form = {"old": old, "new": new, "confirm": new if confirm is None else confirm}
        return client.post(f"/password?lang={lang}", data={**form, "csrf_token": token})

    r = change("short")
    assert r.status_code == 400 and "at least 10 characters" in r.get_data(as_text=True)
    r = change("short", lang="zh-CN")
    assert r.status_code == 400 and "至少需要 10 个字符" in r.get_data(as_text=True)
    for common in ("password123", "Password123!", "qwerty2024!", "woaini1314", "aaaaaaaaaaaa"):
        r = change(common)
        assert r.status_code == 400 and "password" in r.get_data(as_text=True), common
    r = change(PASSWORD, PASSWORD + "x")
    assert r.status_code == 400 and "The two new passwords differ." in r.get_data(as_text=True)
    assert change(PASSWORD, old="nope").status_code == 400
    page = client.get("/password?lang=en").get_data(as_text=True)
    assert 'name="confirm"' in page and 'autocomplete="new-password"' in page
    r = change(PASSWORD)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert 'data-channel="t1.lel"' in page and "<script src=" in page
    assert "https://" not in page, "nothing from outside the box"
    assert [e["user"] for e in events(d, "login")] == ["admin"]
    assert events(d, "password_changed")[0]["user"] == "admin"


def test_writes_need_the_csrf_token_and_the_role(box, client: FlaskClient) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    assert client.post("/api/alarms/ack-all").status_code == 401, "no session, no token"
    login(client, "vic", PASSWORD)
    token = csrf(client, "/")
    r = client.post("/api/alarms/ack-all", headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and "viewer" in r.json["error"]
    assert client.post("/api/config/reload", headers={"X-CSRF-Token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "ops", PASSWORD)
    token = csrf(client, "/")
    assert client.post("/api/alarms/ack-all").status_code == 400, "no CSRF token"
    r = client.post("/api/alarms/ack-all", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 400 and "CSRF" in r.json["error"]
    wait_for(lambda: d.engine.views, what="an alarm")
    r = client.post("/api/alarms/ack-all", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json["acknowledged"] >= 1
    assert client.post("/api/config/reload", headers={"X-CSRF-Token": token}).status_code == 403
    acked = events(d, "alarm_acked")
    assert acked[0]["who"] == "web:ops"


def test_ack_button_on_the_page(box, client: FlaskClient) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    login(client, "ops", PASSWORD)
    wait_for(lambda: any(v["state"] == "active_unack" for v in d.engine.views), what="alarm")
    page = client.get("/").get_data(as_text=True)
    # The rows are drawn by the page's script from the data embedded for it (then the push).
    initial = json.loads(re.search(r'id="push-initial">(.*?)</script>', page).group(1))
    assert any(a["id"] == "t1.lel:A1" for a in initial["alarms"]["alarms"])
    assert 'data-operator="1"' in page and 'id="banner-ack"' in page
    token = csrf(client, "/")
    assert client.post("/alarms/t1.lel:A1/ack", data={}).status_code == 400, "no CSRF token"
    r = client.post("/alarms/t1.lel:A1/ack", data={"csrf_token": token})
    assert r.status_code == 302
    assert next(v for v in d.engine.views if v["id"] == "t1.lel:A1")["state"] == "active_ack"


def test_lockout_after_repeated_failures(box, client: FlaskClient) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    for _ in range(5):
        assert login(client, "ops", "wrong password!").status_code == 401
    r = login(client, "ops", PASSWORD)
    assert r.status_code == 401 and "too many failed logins" in r.get_data(as_text=True)
    failed = events(d, "login_failed")
    assert len(failed) == 6 and failed[0]["user"] == "ops"


def test_per_address_rate_limit(box, client: FlaskClient) -> None:  # noqa: ANN001
    for i in range(10):
        login(client, f"nobody{i}", "x" * 12)
    r = login(client, "admin", "whatever-else")
    assert r.status_code == 429


def test_sessions_time_out_when_idle(box) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    app = create_app(d.api, {"TESTING": True, "SESSION_IDLE_S": -1})
    c = app.test_client()
    login(c, "vic", PASSWORD)
    assert c.get("/").headers["Location"] == "/login"


def test_login_without_csrf_token_is_refused(client: FlaskClient) -> None:
    r = client.post("/login", data={"user": "admin", "password": "x" * 12})
    assert r.status_code == 400


def test_language_by_query_cookie_and_browser(client: FlaskClient) -> None:
    assert "登录" in client.get("/login?lang=zh-CN").get_data(as_text=True)
    assert "登录" in client.get("/login").get_data(as_text=True), "the cookie remembers"
    fresh = client.application.test_client()
    zh = fresh.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in zh.get_data(as_text=True)
    assert "Log in" in fresh.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_operator_silences_shelves_unshelves_and_resets_from_the_page(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    login(client, "ops", PASSWORD)
    wait_for(lambda: any(v["id"] == "t1.lel:A1" for v in d.engine.views), what="alarm")
    token = csrf(client, "/")
    assert client.post("/silence", data={"csrf_token": token}).status_code == 302
    assert d.outputs.states()["buzzer"]["mode"] == "off"
    r = client.post(
        "/alarms/t1.lel:A1/shelve",
        data={"csrf_token": token, "minutes": "30", "reason": "calibration"},
    )
    assert r.status_code == 302
    view = next(v for v in d.engine.views if v["id"] == "t1.lel:A1")
    assert view["shelved"]["reason"] == "calibration"
    assert "calibration" in client.get("/").get_data(as_text=True)
    bad = client.post(
        "/alarms/t1.lel:A1/shelve", data={"csrf_token": token, "minutes": "99999", "reason": "x"}
    )
    assert bad.status_code == 400
    assert (
        client.post(
            "/alarms/t1.lel:A1/shelve", data={"csrf_token": token, "minutes": "30", "reason": " "}
        ).status_code
        == 409
    )
    assert client.post("/alarms/t1.lel:A1/unshelve", data={"csrf_token": token}).status_code == 302
    r = client.post("/alarms/t1.lel:A1/reset", data={"csrf_token": token})
    assert r.status_code == 409, "the gas is still there: no reset"
    assert client.post("/alarms/t1.lel:A1/explode", data={"csrf_token": token}).status_code == 404
    shelved = events(d, "alarm_shelved")
    assert shelved[0]["who"] == "web:ops" and shelved[0]["reason"] == "calibration"


def test_viewer_sees_the_system_page_but_cannot_act(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    login(client, "vic", PASSWORD)
    page = client.get("/system").get_data(as_text=True)
    assert d.box_id in page and "<td>store</td><td>✔ ok</td>" in page
    assert "/wall?key=" not in page, "only admins see the wall key"
    token = csrf(client, "/")
    assert client.post("/silence", data={"csrf_token": token}).status_code == 403
    assert client.post("/alarms/t1.lel:A1/ack", data={"csrf_token": token}).status_code == 403


def test_config_page_checks_diffs_applies_and_restores(box, client) -> None:  # noqa: ANN001
    import re as _re

    d, initial = box
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    login(client, "ops", PASSWORD)
    assert client.get("/config").status_code == 403, "operators do not change config"
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    page = client.get("/config").get_data(as_text=True)
    token = _re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    current = (d.home.config_file).read_text()
    bad = current.replace("at = 25.0,", "at = 'x',")
    r = client.post("/config/check", data={"csrf_token": token, "text": bad})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "channels[0].alarms.thresholds.levels[0].at</code> = <code>&#39;x&#39;</code>" in html
    assert "Input should be a valid number" in html
    good = current.replace("at = 25.0,", "at = 30.0,")
    r = client.post("/config/check", data={"csrf_token": token, "text": good})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "-levels = [{ name = &#34;A1&#34;, at = 25.0" in html
    base = _re.search(r'name="base" value="([0-9a-f]+)"', html).group(1)
    r = client.post("/config/apply", data={"csrf_token": token, "text": good, "base": base})
    assert r.status_code == 302 and "applied" in r.headers["Location"]
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 30.0
    r = client.post("/config/apply", data={"csrf_token": token, "text": good, "base": base})
    assert r.status_code == 409, "the file changed since that base"
    applied = events(d, "config_applied")
    assert applied[-1]["who"] == "web:admin"
    history = client.get("/config").get_data(as_text=True)
    oldest = sorted(_re.findall(r'name="name" value="(box-[^"]+)"', history))[0]
    r = client.post("/config/restore", data={"csrf_token": token, "name": oldest})
    assert r.status_code == 200 and "+levels = [{ name = &#34;A1&#34;, at = 25.0" in r.get_data(
        as_text=True
    )
    assert (
        client.post(
            "/config/restore", data={"csrf_token": token, "name": "../keys/store.key"}
        ).status_code
        == 404
    )


def test_trend_page(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    login(client, "vic", PASSWORD)
    wait_for(lambda: d.writer.stats.committed_readings > 5, what="readings")
    d.writer.flush()
    page = client.get("/trend/t1.lel?range=hour&with=t1.temp&with=nope").get_data(as_text=True)
    assert "vendor/uplot/uPlot.iife.min.js" in page and 'data-channels="t1.lel,t1.temp"' in page
    with client.get("/static/vendor/uplot/uPlot.iife.min.js") as vendored:
        assert vendored.status_code == 200
    api = client.get("/api/trend/t1.lel?range=day").json
    assert api["span_ms"] == 86_400_000 and api["bucket_ms"] == 600_000
    assert api["thresholds"]["A1"] == 25.0 and api["points"]
    assert client.get("/trend/t1.lel?range=year").status_code == 400
    assert client.get("/trend/nope").status_code == 404
    assert 'href="/trend/t1.lel"' in client.get("/").get_data(as_text=True)


def test_site_plan_upload_and_placing_channels(box, client) -> None:  # noqa: ANN001
    import io

    from tests.conftest import png_bytes

    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    login(client, "admin", PASSWORD)
    assert "noplan" in client.get("/site").get_data(as_text=True)
    token = csrf(client, "/site")
    evil = client.post(
        "/site/plan",
        data={"csrf_token": token, "plan": (io.BytesIO(b"<svg onload=alert(1)>"), "x.svg")},
    )
    assert evil.status_code == 400, "only PNG or JPEG"
    ok = client.post(
        "/site/plan", data={"csrf_token": token, "plan": (io.BytesIO(png_bytes()), "plan.png")}
    )
    assert ok.status_code == 302
    assert client.get("/site/plan").data.startswith(b"\x89PNG")
    r = client.post(
        "/api/site/positions",
        json={"channel": "t1.lel", "x": 40, "y": 25},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 200 and r.json["t1.lel"] == [40.0, 25.0]
    bad = client.post(
        "/api/site/positions",
        json={"channel": "t1.lel", "x": 140, "y": 25},
        headers={"X-CSRF-Token": token},
    )
    assert bad.status_code == 400 and "percentage" in bad.json["error"]
    page = client.get("/site").get_data(as_text=True)
    placed = json.loads(re.search(r'id="positions">(.*?)</script>', page).group(1))
    assert placed == {"t1.lel": [40.0, 25.0]} and "vendor/leaflet/leaflet.js" in page
    client.post("/logout", data={"csrf_token": token})
    login(client, "vic", PASSWORD)
    token = csrf(client, "/site")
    r = client.post(
        "/api/site/positions",
        json={"channel": "t1.lel", "x": 1, "y": 1},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 403
    (upload,) = events(d, "site_plan_uploaded")
    assert upload["by"] == "web:admin" and upload["format"] == "png"
    assert events(d, "site_position_set")[-1]["channel"] == "t1.lel"


def test_alarm_history_with_filters(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    login(client, "vic", PASSWORD)
    wait_for(lambda: d.engine.views, what="an alarm")
    d.writer.flush()
    page = client.get("/alarms/history").get_data(as_text=True)
    table = page.split('id="history"')[1].split("</table>")[0]
    assert '<th scope="col">Time (box local time)</th>' in table
    assert "alarm raised" in table and "t1.lel:A1" in table
    local = re.search(
        r"<time datetime=\"[^\"]+Z\">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})<", table
    )
    assert local, "local time with its UTC offset"
    csv_text = client.get("/alarms/history.csv?kind=alarm_raised").get_data(as_text=True)
    head, first = csv_text.lstrip("\ufeff").splitlines()[:2]
    assert head.startswith("time_local,time_utc,kind,level,source,alarm")
    assert ",alarm_raised,2,t1.lel,t1.lel:A1," in first
    only = client.get("/alarms/history?kind=alarm_acked").get_data(as_text=True)
    assert "t1.lel:A1" not in only.split('id="history"')[1].split("</table>")[0]
    assert "t1.lel:A1" in client.get("/alarms/history?source=t1.lel&hours=1").get_data(as_text=True)
    assert client.get("/alarms/history?hours=abc").status_code == 400
    assert "alarm raised" in client.get("/alarms/history?kind=nonsense").get_data(as_text=True)


def test_admin_users_diagnostics_and_encrypted_backup(box, client, tmp_path) -> None:  # noqa: ANN001
    import io
    import sqlite3
    import zipfile

    from box.store.database import connect

    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    login(client, "vic", PASSWORD)
    assert client.get("/users").status_code == 403
    assert client.get("/system/backup").status_code == 403
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    login(client, "admin", PASSWORD)
    token = csrf(client, "/users")
    r = client.post("/users", data={"csrf_token": token, "name": "li_wei", "role": "operator"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "li_wei: temporary password" in page, "shown, not in a URL"
    temp = re.search(r"temporary password (\S+) ", page)[1]
    assert d.accounts.verify("li_wei", temp).must_change
    assert d.accounts.get("li_wei").role == "operator"
    bad = client.post("/users", data={"csrf_token": token, "name": "li_wei", "role": "operator"})
    assert bad.status_code == 400 and "exists already" in bad.get_data(as_text=True)
    assert client.post("/users/li_wei/reset", data={"csrf_token": token}).status_code == 200
    assert client.post("/users/nobody/reset", data={"csrf_token": token}).status_code == 404

    z = zipfile.ZipFile(io.BytesIO(client.get("/system/diagnostics").data))
    assert set(z.namelist()) == {
        "status.json",
        "drivers.json",
        "config.json",
        "doctor.json",
        "events.jsonl",
    }
    everything = b"".join(z.read(n) for n in z.namelist())
    for key_file in (d.home.keys_dir).glob("*.key"):
        assert key_file.read_text().strip().encode() not in everything, "no keys in the bundle"

    d.writer.flush()
    resp = client.get("/system/backup")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    copy = tmp_path / "copy.db"
    copy.write_bytes(resp.data)
    assert not resp.data.startswith(b"SQLite format 3"), "the backup stays encrypted"
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(copy).execute("SELECT count(*) FROM sqlite_master").fetchall()
    conn = connect(copy, d.keys.get("store"), readonly=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] > 0
    conn.close()
    kinds = [
        e
        for e in ("user_created", "password_reset", "diagnostics_downloaded", "backup_downloaded")
        if events(d, e)
    ]
    assert len(kinds) == 4


def test_config_form_shows_field_errors_then_diff_then_applies(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    page = client.get("/config").get_data(as_text=True)
    assert 'href="/config/form/channels/0"' in page and 'href="/config/form/outputs"' in page
    html = client.get("/config/form/channels/0").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    draft = d.home.config_file.read_text()
    at = 'f:["channels", 0, "alarms", "thresholds", "levels", 0, "at"]'
    assert 'id="f-channels-0-alarms-thresholds-levels-0-at"' in html

    def post(value: str, draft: str = draft) -> tuple[int, str]:
        r = client.post(
            "/config/form/channels/0", data={"csrf_token": token, "draft": draft, at: value}
        )
        return r.status_code, r.get_data(as_text=True)

    code, html = post("abc")
    assert code == 400 and "Input should be a valid number" in html
    assert 'id="f-channels-0-alarms-thresholds-levels-0-at-error"' in html
    assert 'value="abc"' in html, "the typed value is shown again, next to its error"
    code, html = post("60")
    assert code == 400 and "rising thresholds need strictly increasing" in html
    assert 'id="f-channels-0-alarms-thresholds-error"' in html, "on the thresholds fieldset"
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 25.0, "nothing applied"
    code, html = post("30")
    assert code == 200 and 'id="diff"' in html
    assert '<span class="del">-levels = [{ name = &#34;A1&#34;, at = 25.0' in html
    assert '<span class="add">+levels = [{ name = &#34;A1&#34;, at = 30' in html
    text = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', html, re.S).group(1)
    base = re.search(r'name="base" value="([0-9a-f]+)"', html).group(1)
    import html as _html

    r = client.post(
        "/config/apply",
        data={"csrf_token": token, "text": _html.unescape(text), "base": base},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[-500:]
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 30.0
    assert client.get("/config/form/nope").status_code == 404
    assert client.get("/config/form/channels/9").status_code == 404
    assert client.get("/config/form/channels").status_code == 404


def test_config_form_adds_and_removes_a_channel(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    token = csrf(client, "/config/form/channels/new")
    r = client.post(
        "/config/form/channels/new",
        data={
            "csrf_token": token,
            'f:["channels", 2, "id"]': "t1.o2",
            'f:["channels", 2, "kind"]': "o2",
            'f:["channels", 2, "unit"]': "%VOL",
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "+id = &#34;t1.o2&#34;" in html
    assert 'action="/config/form/channels/2"' in html, "the new row is now channel 2"
    draft = re.search(r'<textarea name="draft" hidden>(.*?)</textarea>', html, re.S).group(1)
    import html as _html

    r = client.post(
        "/config/form/channels/2",
        data={"csrf_token": token, "draft": _html.unescape(draft), 'remove:["channels", 2]': "1"},
    )
    assert r.status_code == 200 and "(no change)" in r.get_data(as_text=True)
    r = client.post(
        "/config/form/channels/1",
        data={"csrf_token": token, 'remove:["channels", 1]': "1"},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "not declared in [[channels]]" in html, "the sim driver uses it"


def test_json_api_does_what_the_pages_do(box, client, tmp_path) -> None:  # noqa: ANN001
    """Config, users, trend, history, site, system, diagnostics, backup: by API token."""
    from tests.conftest import png_bytes

    d, _ = box
    auth = {"Authorization": f"Bearer {d.api_token}"}
    cfg = client.get("/api/config", headers=auth).json
    assert cfg["text"] == d.home.config_file.read_text() and len(cfg["base"]) == 64
    at = ["channels", 0, "alarms", "thresholds", "levels", 0, "at"]
    r = client.post("/api/config/edit", headers=auth, json={"edits": [{"path": at, "value": "x"}]})
    assert r.status_code == 422 and r.json["issues"][0]["path"] == at
    assert r.json["issues"][0]["reason"].startswith("Input should be a valid number")
    r = client.post("/api/config/edit", headers=auth, json={"edits": [{"path": at, "value": 35}]})
    assert r.status_code == 200 and "+levels" in r.json["diff"], "checked, not applied"
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 25.0
    r = client.post(
        "/api/config/edit",
        headers=auth,
        json={"edits": [{"path": at, "value": 35}], "apply": True, "base": cfg["base"]},
    )
    assert r.status_code == 200 and r.json["accepted"], r.json
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 35
    r = client.post(
        "/api/config/apply", headers=auth, json={"text": cfg["text"], "base": cfg["base"]}
    )
    assert r.status_code == 409, "the file changed since that base"
    r = client.post("/api/config/check", headers=auth, json={"text": "config_version = 2"})
    assert r.status_code == 200 and not r.json["valid"]
    assert r.json["issues"][0]["field"] == "config_version"
    history = client.get("/api/config", headers=auth).json["history"]
    r = client.post("/api/config/restore", headers=auth, json={"name": history[-1]})
    assert r.json["valid"] and "-levels" in r.json["diff"]
    r = client.post("/api/config/restore", headers=auth, json={"name": "../keys/api.key"})
    assert r.status_code == 404
    for bad in ({}, {"edits": "x"}, {"edits": [{"path": []}]}, {"edits": [{"path": ["box"]}]}):
        r = client.post("/api/config/edit", headers=auth, json=bad)
        assert r.status_code == 400 and r.json["error"], bad

    r = client.post("/api/users", headers=auth, json={"name": "vic", "role": "viewer"})
    assert r.status_code == 200 and len(r.json["temporary_password"]) >= 12
    assert {"name": "vic", "role": "viewer", "must_change": True} in client.get(
        "/api/users", headers=auth
    ).json["users"]
    r = client.post("/api/users", headers=auth, json={"name": "x", "role": "god"})
    assert r.status_code == 400 and "role" in r.json["error"]
    assert client.post("/api/users/nobody/reset", headers=auth).status_code == 404
    assert client.post("/api/users/vic/reset", headers=auth).json["name"] == "vic"

    wait_for(lambda: client.get("/api/trend/t1.lel", headers=auth).json["points"], what="trend")
    point = client.get("/api/trend/t1.lel?range=day", headers=auth).json["points"][0]
    assert set(point) == {"t", "min", "max", "mean"}
    assert client.get("/api/trend/t1.lel?range=year", headers=auth).status_code == 400
    assert client.get("/api/trend/nope", headers=auth).json["error"] == "no channel 'nope'"
    wait_for(lambda: d.engine.alarms.get("t1.lel:A1"), what="alarm")
    d.writer.flush()
    raised = client.get("/api/alarms/history?kind=alarm_raised", headers=auth).json["events"]
    # A1 may be raised twice: the threshold edit above restarts the drivers, and if A1 was
    # already up the restarted waveform clears and raises it again (timing-dependent).
    assert {(e["kind"], e["details"]["alarm"]) for e in raised} == {("alarm_raised", "t1.lel:A1")}
    assert client.get("/api/alarms/history?hours=nan", headers=auth).status_code == 400

    assert client.get("/api/site", headers=auth).json == {"plan": False, "positions": {}}
    r = client.put("/api/site/plan", headers=auth, data=b"GIF89a")
    assert r.status_code == 400 and "PNG or JPEG" in r.json["error"]
    assert client.put("/api/site/plan", headers=auth, data=png_bytes(60, 40)).json == {"plan": True}
    assert client.get("/api/site", headers=auth).json["plan"] is True

    assert {c["name"] for c in client.get("/api/system", headers=auth).json["checks"]}
    r = client.get("/api/diagnostics", headers=auth)
    assert r.status_code == 200 and r.data[:2] == b"PK"
    r = client.get("/api/backup", headers=auth)
    assert r.status_code == 200 and not r.data.startswith(b"SQLite format 3"), "still encrypted"
    kinds = {e["kind"] for e in client.get("/api/alarms/history", headers=auth).json["events"]}
    assert kinds <= set(pages.HISTORY_KINDS)
    assert [e["by"] for e in events(d, "backup_downloaded")] == ["api"]


def test_api_roles_for_the_new_operations(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    login(client, "vic", PASSWORD)
    assert client.get("/api/trend/t1.lel").status_code == 200
    assert client.get("/api/site").status_code == 200
    assert client.get("/api/alarms/history").status_code == 200
    for path in ("/api/config", "/api/users", "/api/backup", "/api/diagnostics"):
        assert client.get(path).status_code == 403, path
    token = csrf(client, "/")
    r = client.post("/api/config/check", json={"text": ""}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403
    r = client.post("/api/users", json={"name": "eve", "role": "admin"})
    assert r.status_code == 400 and "CSRF" in r.json["error"]


def test_api_apply_needs_the_base_it_replaces(box, client) -> None:  # noqa: ANN001
    """Found by fuzzing: an empty text without a base was a valid config with no channels."""
    d, _ = box
    auth = {"Authorization": f"Bearer {d.api_token}"}
    before = d.home.config_file.read_text()
    r = client.post("/api/config/apply", headers=auth, json={"text": ""})
    assert r.status_code == 400 and "base" in r.json["error"]
    base = client.get("/api/config", headers=auth).json["base"]
    r = client.post("/api/config/apply", headers=auth, json={"text": "", "base": base})
    assert r.status_code == 422 and r.json["issues"][0]["field"] == "config_version"
    assert d.home.config_file.read_text() == before and len(d.config.channels) == 2


ROLE_ORDER = ("viewer", "operator", "admin")
PUBLIC = {"/static/<path:filename>", "/login", "/api/status", "/api/openapi.json", "/api/health"}
PUBLIC |= {"/api/alarms"}  # read-only: what a monitoring tool polls without an account
SESSION = {"/logout", "/api/session", "/api/password", "/password", "/site/plan"}
SESSION |= {"/api/push", "/wall"}  # a stream for any login (tests/test_web_push.py); the wall key
PARAMS = {
    "alarm_id": "t1.lel:A1",
    "action": "ack",
    "channel": "t1.lel",
    "section": "channels",
    "item": "0",
    "name": "nobody",
    "filename": "app.css",
}


def _session_client(d: Daemon, role: str | None) -> tuple[FlaskClient, dict[str, str]]:
    c = create_app(d.api, {"TESTING": True}).test_client()
    if role is None:
        return c, {}
    if d.accounts.get(role) is None:
        d.accounts.create(role, PASSWORD, role, must_change=False)
    else:  # the admin made by init
        d.accounts.set_password(role, PASSWORD, must_change=False)
    r = c.post("/api/session", json={"user": role, "password": PASSWORD})
    assert r.status_code == 200 and r.json["role"] == role, r.json
    return c, {"X-CSRF-Token": r.json["csrf_token"]}


def test_every_route_for_every_role(box) -> None:  # noqa: ANN001
    """Each route states the role it needs; each role gets in exactly where it may."""
    d, _ = box
    app = create_app(d.api, {"TESTING": True})
    clients = {who: _session_client(d, who) for who in (None, *ROLE_ORDER)}
    checked = 0
    for rule in app.url_map.iter_rules():
        needed = getattr(app.view_functions[rule.endpoint], "required_role", None)
        if needed is None:
            assert rule.rule in PUBLIC | SESSION, f"{rule.rule} declares no role"
            continue
        assert needed in ROLE_ORDER, rule.rule
        url = rule.build({k: PARAMS[k] for k in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for who, (client, headers) in clients.items():
                r = client.open(url, method=method, headers=headers, data={})
                api = url.startswith("/api/")
                if who is None:
                    expected = 401 if api else 302
                    assert r.status_code == expected, (method, url, who, r.status_code)
                elif ROLE_ORDER.index(who) < ROLE_ORDER.index(needed):
                    assert r.status_code == 403, (method, url, who, r.status_code)
                else:
                    assert r.status_code not in (401, 403, 500), (method, url, who, r.status_code)
                checked += 1
    assert checked > 150


def test_json_sessions_login_password_and_logout(box, client) -> None:  # noqa: ANN001
    d, initial = box
    r = client.post("/api/session", data=json.dumps({"user": "admin", "password": initial}))
    assert r.status_code == 415, "only application/json: a form on another site cannot log in"
    r = client.post("/api/session", json={"user": "admin", "password": "wrong"})
    assert r.status_code == 401 and events(d, "login_failed")[-1]["user"] == "admin"
    r = client.post("/api/session", json={"user": "admin", "password": initial})
    assert r.status_code == 200 and r.json["must_change"] is True
    token = {"X-CSRF-Token": r.json["csrf_token"]}
    assert client.get("/api/users").status_code == 403, "change the initial password first"
    assert client.post("/api/password", json={"old": initial, "new": PASSWORD}).status_code == 400
    r = client.post("/api/password", json={"old": initial, "new": PASSWORD}, headers=token)
    assert r.status_code == 200 and r.json["user"] == "admin" and r.json["must_change"] is False
    assert r.json["csrf_token"] != token["X-CSRF-Token"], "a new session after the change"
    token = {"X-CSRF-Token": r.json["csrf_token"]}
    assert client.get("/api/session").json["must_change"] is False
    assert client.get("/api/users").status_code == 200
    assert client.delete("/api/session").status_code == 400, "logout needs the CSRF token"
    assert client.delete("/api/session", headers=token).json == {"logged_out": "admin"}
    assert client.get("/api/session").status_code == 401
    for _ in range(12):
        client.post("/api/session", json={"user": "ghost", "password": "x"})
    r = client.post("/api/session", json={"user": "admin", "password": PASSWORD})
    assert r.status_code == 429, "the per-address limit covers the JSON login too"


def test_config_form_adds_a_modbus_driver_with_its_first_device(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    assert "/config/form/drivers/new?type=modbus" in client.get("/config").get_data(as_text=True)
    assert client.get("/config/form/drivers/new").status_code == 400, "the type comes first"
    html = client.get("/config/form/drivers/new?type=modbus").get_data(as_text=True)
    assert 'id="f-drivers-1-type">modbus</code>' in html and 'id="f-drivers-1-baudrate"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    field = 'f:["drivers", 1, {}]'.format
    dev = 'f:["drivers", 1, "devices", 0, {}]'.format
    form = {
        "csrf_token": token,
        field('"name"'): "rs485-2",
        field('"host"'): "127.0.0.1",
        dev('"unit"'): "3",
        dev('"profile"'): "generic-gas-probe",
        dev('"channels"'): 'concentration = "t1.lel"',
    }
    r = client.post("/config/form/drivers/new?type=modbus", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "is also produced by &#39;sim1&#39;" in html, "cross-checked"
    draft = re.search(r'<textarea name="draft" hidden>(.*?)</textarea>', html, re.S).group(1)
    import html as _html

    r = client.post(
        "/config/form/drivers/1",
        data={
            "csrf_token": token,
            "draft": _html.unescape(draft),
            dev('"channels"'): 'concentration = "t1.temp2"',
        },
    )
    assert "not declared in [[channels]]" in r.get_data(as_text=True)


def test_a_site_plan_of_a_few_megabytes_is_accepted(box, client) -> None:  # noqa: ANN001
    """Photos of site plans are often 2-4 MB: the 5 MB limit must hold, not the 1 MB form limit."""
    import io
    import os

    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    token = csrf(client, "/site")
    from werkzeug.test import encode_multipart

    big = png_bytes(60, 40) + os.urandom(3_000_000)
    # Encoded here, in memory: the test client would spool a body this size to a temp file
    # that it never closes.
    from werkzeug.datastructures import FileStorage

    plan = FileStorage(io.BytesIO(big), filename="plan.png", content_type="image/png")
    boundary, payload = encode_multipart({"csrf_token": token, "plan": plan})
    r = client.post(
        "/site/plan",
        data=payload,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert r.status_code == 302, r.status_code
    assert client.get("/site/plan").data == big
    auth = {"Authorization": f"Bearer {d.api_token}"}
    assert client.put("/api/site/plan", headers=auth, data=big).status_code == 200
    too_big = png_bytes(60, 40) + os.urandom(5 * 1024 * 1024)
    r = client.put("/api/site/plan", headers=auth, data=too_big)
    assert r.status_code in (400, 413) and "5 MB" in r.json["error"]
    r = client.post("/api/config/check", headers=auth, json={"text": "x" * (2 << 20)})
    assert r.status_code == 413, "other requests keep the 1 MB limit"


def test_a_new_area_is_one_blueprint_and_one_template(box, monkeypatch) -> None:  # noqa: ANN001
    """Found through the safetybox.web entry points; a broken plug-in is skipped, not fatal."""
    from importlib.metadata import EntryPoint

    import box.web as web
    from box.core import plugins

    eps = [
        EntryPoint("example", "tests.example_area", web.ENTRY_POINT_GROUP),
        EntryPoint("broken", "no_such_module_xyz", web.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    d, _ = box
    app = create_app(d.api, {"TESTING": True})
    d.accounts.create("vic", PASSWORD, "viewer", must_change=False)
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    viewer, operator = app.test_client(), app.test_client()
    login(viewer, "vic", PASSWORD)
    login(operator, "ops", PASSWORD)
    assert 'href="/example"' not in viewer.get("/").get_data(as_text=True)
    assert viewer.get("/example").status_code == 403
    page = operator.get("/example?lang=zh-CN").get_data(as_text=True)
    assert '<a href="/example" aria-current="page">人员定位</a>' in page, "the current page"
    assert "A. Li, B. Wang" in page
    assert 'data-push="example"' in page, "the area's page subscribes to its own push topic"
    links = re.findall(r'<a href="(/[a-z]*)"[ >]', operator.get("/?lang=en").get_data(as_text=True))
    assert links[:4] == ["/", "/site", "/example", "/system"], "ordered by the areas' NAV"


def test_admins_change_roles_and_remove_accounts_but_never_the_last_admin(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    d.accounts.create("ops", PASSWORD, "operator", must_change=False)
    login(client, "admin", PASSWORD)
    token = csrf(client, "/users")
    r = client.post("/users/admin/role", data={"csrf_token": token, "role": "viewer"})
    assert r.status_code == 400 and "last admin" in r.get_data(as_text=True)
    r = client.post("/users/admin/remove", data={"csrf_token": token})
    assert r.status_code == 400 and "your own account" in r.get_data(as_text=True)
    r = client.post("/users/ops/role", data={"csrf_token": token, "role": "admin"})
    assert r.status_code == 302 and d.accounts.get("ops").role == "admin"
    assert "ops：角色已改为管理员" in client.get(r.headers["Location"] + "&lang=zh-CN").get_data(
        as_text=True
    )
    other = create_app(d.api, {"TESTING": True}).test_client()
    login(other, "ops", PASSWORD)
    assert other.get("/users").status_code == 200, "the new role applies at the next request"
    auth = {"Authorization": f"Bearer {d.api_token}"}
    r = client.put("/api/users/admin", headers=auth, json={"role": "operator"})
    assert r.status_code == 200, "another admin exists now"
    r = client.put("/api/users/ops", headers=auth, json={"role": "viewer"})
    assert r.status_code == 400 and "last admin" in r.json["error"]
    assert client.put("/api/users/nobody", headers=auth, json={"role": "viewer"}).status_code == 404
    r = client.delete("/api/users/admin", headers=auth)
    assert r.json == {"removed": "admin"}
    assert client.get("/").headers["Location"] == "/login", "a removed account's session ends"
    assert client.delete("/api/users/ops", headers=auth).status_code == 400, "last admin"
    kinds = [e["user"] for e in events(d, "user_role_changed")]
    assert kinds == ["ops", "admin"] and events(d, "user_removed")[0]["by"] == "api"


def test_users_cli_set_role_and_remove(tmp_path) -> None:  # noqa: ANN001
    home = tmp_path / "box"
    run_cli(home, "init")
    run_cli(home, "users", "add", "li_wei", "--role", "operator")
    out = json.loads(run_cli(home, "users", "set-role", "li_wei", "admin", "--json").output)
    assert out == {"name": "li_wei", "role": "admin"}
    bad = run_cli(home, "users", "remove", "nobody", check=False)
    assert bad.exit_code == 1 and "no account 'nobody'" in bad.output
    assert "removed" in run_cli(home, "users", "remove", "admin").output
    last = run_cli(home, "users", "set-role", "li_wei", "viewer", check=False)
    assert last.exit_code == 1 and "last admin" in last.output
    conn = open_reader(home)
    try:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events WHERE source = 'cli'")]
    finally:
        conn.close()
    assert kinds == ["user_created", "user_role_changed", "user_removed"]


def test_every_config_form_page_renders(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    page = client.get("/config").get_data(as_text=True)
    links = sorted(set(re.findall(r'href="(/config/form/[^"]+)"', page)))
    assert len(links) >= 14, links
    for link in links:
        r = client.get(link.replace("&amp;", "&"))
        assert r.status_code == 200, link
        assert 'name="draft"' in r.get_data(as_text=True)


def test_config_form_names_fields_in_chinese_beside_the_key(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    html = client.get("/config/form/channels/0?lang=zh-CN").get_data(as_text=True)
    assert 'at</code> <span class="zh">报警值</span></label>' in html
    assert 'on_delay_s</code> <span class="zh">报警延时(秒)</span>' in html
    html = client.get("/config/form/channels/0?lang=en").get_data(as_text=True)
    assert "报警值" not in html


def test_the_page_embeds_the_alarms_it_was_rendered_with(box, client) -> None:  # noqa: ANN001
    """Found on a phone-sized screenshot: an alarm raised between rendering and the page's first
    update left "No alarms" on screen. The page now carries the alarm state it was rendered with,
    and the push stream sends the current state the moment it opens."""
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    wait_for(lambda: d.api.snapshot()["alarms"], what="the step alarm")
    for path in ("/", "/system", "/alarms/history", "/config"):
        html = client.get(path).get_data(as_text=True)
        initial = json.loads(re.search(r'id="push-initial">(.*?)</script>', html).group(1))
        assert [a["id"] for a in initial["alarms"]["alarms"]] == ["t1.lel:A1"], path


def test_config_forms_survive_any_input(box, client) -> None:  # noqa: ANN001
    """Random text in every field of every form: a page with errors or a diff, never a 500,
    and nothing is written until Apply."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    before = d.home.config_file.read_text()
    links = sorted(
        set(
            re.findall(r'href="(/config/form/[^"]+)"', client.get("/config").get_data(as_text=True))
        )
    )
    forms = {}
    for link in links:
        url = link.replace("&amp;", "&")
        html = client.get(url).get_data(as_text=True)
        names = sorted(set(re.findall(r'name="(f:[^"]+|remove:[^"]+)"', html)))
        forms[url] = [n.replace("&#34;", '"') for n in names]
    assert sum(map(len, forms.values())) > 100, "the forms' fields were found"
    token = csrf(client, "/config")
    text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)

    @given(url=st.sampled_from(sorted(forms)), data=st.data())
    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(url: str, data: st.DataObject) -> None:
        fields = forms[url]
        chosen = data.draw(st.lists(st.sampled_from(fields), max_size=4, unique=True))
        values = {
            name: data.draw(text | st.sampled_from(["", "1e309", "-1", "[1,", "x = {"]))
            for name in chosen
        }
        r = client.post(url, data={"csrf_token": token, **values})
        assert r.status_code in (200, 400), (url, values, r.status_code)

    run()
    assert d.home.config_file.read_text() == before
    assert d.api.health_problems() == []


def test_the_wall_key_opens_a_read_only_display_that_never_acts(box, client) -> None:  # noqa: ANN001
    d, _ = box
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    admin = create_app(d.api, {"TESTING": True}).test_client()
    login(admin, "admin", PASSWORD)
    key = re.search(r"/wall\?key=([0-9a-f]+)", admin.get("/system").get_data(as_text=True))[1]
    assert client.get("/wall?key=" + "0" * 32).status_code == 403
    assert client.get("/wall").status_code == 302, "no key, no login: to the login page"
    r = client.get("/wall?key=" + key)
    assert r.status_code == 302 and r.headers["Location"] == "/wall"
    wall = client.get("/wall").get_data(as_text=True)
    assert 'class="wall"' in wall and 'class="wall-head"' in wall and "<nav" not in wall
    assert 'data-operator="0"' in wall and 'id="banner-ack"' not in wall
    assert client.get("/alarms/history").status_code == 200, "it sees what a viewer sees"
    assert client.get("/config").status_code == 403
    token = re.search(r'name="csrf-token" content="([^"]+)"', wall)[1]
    for path in ("/api/alarms/ack-all", "/api/alarms/silence", "/api/alarms/t1.lel:A1/ack"):
        r = client.post(path, headers={"X-CSRF-Token": token}, json={})
        assert r.status_code == 403, path
    assert client.post("/silence", data={"csrf_token": token}).status_code == 403
    # A key from another box (another API token) opens nothing.
    other = create_app(FakeWallBox(d.api), {"TESTING": True}).test_client()
    assert other.get("/wall?key=" + key).status_code == 403


class FakeWallBox:
    """The same box with another API token."""

    def __init__(self, api: object) -> None:
        self._api = api
        self.api_token = "x" * 64

    def __getattr__(self, name: str) -> object:
        return getattr(self._api, name)
