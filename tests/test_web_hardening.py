"""Issue 16 items 6-8: revocable sessions, throttling instead of lockout, security headers,
request limits, and a CLI that does not depend on the web server's worker pool."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import SECURITY_HEADERS, create_app
from box.web.login_throttle import PAIR_FIRST_WAIT_S, PAIR_FREE, LoginThrottle
from box.web.server import WebServer
from tests.conftest import free_port, run_cli, sim_body, wait_for, write_config
from tests.test_web_pages import PASSWORD, csrf, login


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Daemon]:
    home = tmp_path / "box"
    run_cli(home, "init", "--json")
    write_config(home, sim_body(interval=0.05, step_at=0.2, step_back=3600))
    d = Daemon(BoxHome.under(home))
    d.start()
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    yield d
    d.stop()


def client_at(d: Daemon, address: str, app: object = None) -> FlaskClient:
    app = app or create_app(d.api, {"TESTING": True})
    c = app.test_client()  # type: ignore[attr-defined]
    c.environ_base["REMOTE_ADDR"] = address
    return c


def test_a_copied_cookie_is_void_after_logout(box: Daemon) -> None:
    app = create_app(box.api, {"TESTING": True})
    mine, thief = client_at(box, "10.0.0.1", app), client_at(box, "10.0.0.2", app)
    assert login(mine, "admin", PASSWORD).status_code == 302
    cookie = mine.get_cookie("safetybox_session")
    thief.set_cookie("safetybox_session", cookie.value)
    assert thief.get("/").status_code == 200, "the copy works while the session lives"
    mine.post("/logout", data={"csrf_token": csrf(mine, "/")})
    assert mine.get("/").headers["Location"] == "/login"
    assert thief.get("/").headers["Location"] == "/login", "logged out means out everywhere"
    assert thief.get("/api/session").status_code == 401


def test_a_password_change_ends_every_other_session(box: Daemon) -> None:
    app = create_app(box.api, {"TESTING": True})
    mine, other = client_at(box, "10.0.0.1", app), client_at(box, "10.0.0.2", app)
    login(mine, "admin", PASSWORD)
    login(other, "admin", PASSWORD)
    copy = client_at(box, "10.0.0.3", app)
    copy.set_cookie("safetybox_session", mine.get_cookie("safetybox_session").value)
    new = PASSWORD + " 2"
    r = mine.post(
        "/password",
        data={"old": PASSWORD, "new": new, "confirm": new, "csrf_token": csrf(mine, "/")},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert mine.get("/").status_code == 200, "the browser that changed it stays logged in"
    assert other.get("/").headers["Location"] == "/login"
    assert copy.get("/").headers["Location"] == "/login", "the old cookie is void"
    # a reset from the CLI (through the same accounts) ends the changer's session too
    box.accounts.set_password("admin", PASSWORD, must_change=False)
    assert mine.get("/").headers["Location"] == "/login"


def test_failures_from_many_addresses_never_lock_the_real_admin_out(box: Daemon) -> None:
    app = create_app(box.api, {"TESTING": True})
    for i in range(5):
        for _ in range(PAIR_FREE + 1):
            assert (
                login(client_at(box, f"10.0.1.{i}", app), "admin", "wrong!" * 3).status_code == 401
            )
    admin = client_at(box, "10.0.2.1", app)
    assert login(admin, "admin", PASSWORD).status_code == 302, "not locked: throttled per address"
    r = login(client_at(box, "10.0.1.0", app), "admin", PASSWORD)
    assert r.status_code == 401 and "too many failed logins: try again in" in r.get_data(True)


def test_unknown_names_are_throttled_with_the_same_answer(box: Daemon) -> None:
    app = create_app(box.api, {"TESTING": True})
    answers = {}
    for name in ("admin", "nosuchuser"):
        c = client_at(box, "10.0.3.1" if name == "admin" else "10.0.3.2", app)
        for _ in range(PAIR_FREE):
            login(c, name, "wrong!" * 3)
        r = login(c, name, "wrong!" * 3)
        answers[name] = (r.status_code, r.get_data(True).split("too many")[1][:40])
    assert answers["admin"] == answers["nosuchuser"], "no user enumeration"


def test_the_pair_wait_doubles_and_a_success_clears_it() -> None:
    now = [1000.0]
    throttle = LoginThrottle(lambda: now[0])
    for _ in range(PAIR_FREE):
        assert throttle.wait_s("ops", "a")[0] == 0
        throttle.failed("ops", "a")
    assert throttle.wait_s("ops", "a") == (PAIR_FIRST_WAIT_S, "account")
    assert throttle.wait_s("OPS", "a")[0] > 0, "names are not case-sensitive here"
    assert throttle.wait_s("ops", "b") == (0.0, ""), "another address is not slowed"
    now[0] += PAIR_FIRST_WAIT_S
    throttle.failed("ops", "a")
    assert throttle.wait_s("ops", "a") == (2 * PAIR_FIRST_WAIT_S, "account")
    throttle.succeeded("ops", "a")
    assert throttle.wait_s("ops", "a") == (0.0, "")


def test_every_response_carries_the_security_headers(box: Daemon) -> None:
    c = client_at(box, "127.0.0.1")
    login(c, "admin", PASSWORD)
    for path in ("/", "/login", "/api/status", "/static/app.js", "/no/such/page", "/system"):
        with c.get(path) as r:
            for name, value in SECURITY_HEADERS.items():
                assert r.headers.get(name) == value, f"{path}: {name}"
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp


def test_pages_have_no_inline_script_or_style(box: Daemon) -> None:
    """The CSP forbids them; a page that used them would silently break in the browser."""
    c = client_at(box, "127.0.0.1")
    login(c, "admin", PASSWORD)
    for path in ("/", "/login", "/system", "/site", "/config", "/alarms/history", "/password"):
        html = c.get(path).get_data(as_text=True)
        assert " style=" not in html and " onclick=" not in html, path
        for tag in html.split("<script")[1:]:
            head = tag.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, f"{path}: inline script"


def test_json_nested_too_deep_is_a_clear_400(box: Daemon) -> None:
    c = client_at(box, "127.0.0.1")
    token = {"Authorization": f"Bearer {box.api.api_token}", "Content-Type": "application/json"}
    deep = "[" * 200_000 + "]" * 200_000
    r = c.post("/api/alarms/t1.lel:A1/ack", data=deep, headers=token)
    assert r.status_code == 400 and "nested too deeply" in r.json["error"]


def _serve(box: Daemon) -> tuple[WebServer, int]:
    port = free_port()
    server = WebServer(create_app(box.api), [f"127.0.0.1:{port}"])
    server.start()
    return server, port


def test_an_oversized_header_is_refused_without_reading_it(box: Daemon) -> None:
    server, port = _serve(box)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Big: ")
            try:
                for _ in range(20 * 1024):  # up to 20 MB, as in the finding
                    sock.sendall(b"a" * 1024)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server closed the connection: what we want
            answer = sock.recv(200)
        assert answer == b"" or b" 413 " in answer or b" 431 " in answer or b" 400 " in answer
    finally:
        server.stop()


def test_cli_reaches_the_box_while_slow_requests_hold_every_web_worker(
    home: Path, daemon_factory
) -> None:  # noqa: ANN001
    write_config(home, sim_body(interval=0.05, step_at=0.3, step_back=3600))
    d = daemon_factory(home)
    d.wait_ready()
    wait_for(lambda: any(a["id"] == "t1.lel:A1" for a in d.status()["alarms"]), what="A1")
    port = int(d.url.rsplit(":", 1)[1])
    held = []
    try:
        for _ in range(40):  # more half-sent requests than the server has workers
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        assert "t1.lel:A1: active_ack" in run_cli(home, "alarms", "ack", "t1.lel:A1").output
        assert "applied" in run_cli(home, "config", "reload").output
        assert json.loads(run_cli(home, "status", "--json").output)["healthy"] in (True, False)
    finally:
        for s in held:
            s.close()


def test_the_control_socket_is_private(home: Path, daemon_factory) -> None:  # noqa: ANN001
    write_config(home, sim_body())
    d = daemon_factory(home)
    d.wait_ready()
    address = BoxHome.under(home).control_socket
    if address.startswith("\0"):
        why = "this home's path is too long for a socket file: an abstract socket is used"
        pytest.skip(reason=why)
    folder = Path(address).parent
    wait_for(lambda: Path(address).exists(), what="control socket")
    assert folder.stat().st_mode & 0o777 == 0o700


SECRET_SYNC = '\n[sync]\nenabled = false\nusername = "box"\npassword = "hunter2-secret"  # keep\n'


def test_the_sync_password_never_leaves_through_the_config_api_or_history(box: Daemon) -> None:
    cfg = box.home.config_file
    cfg.write_text(cfg.read_text() + SECRET_SYNC)
    assert box.reload("test")["accepted"]
    c = client_at(box, "127.0.0.1")
    token = {"Authorization": f"Bearer {box.api.api_token}"}
    read = c.get("/api/config", headers=token).json
    assert (
        "hunter2-secret" not in read["text"] and 'password = "(secret, unchanged)"' in read["text"]
    )
    # the masked text goes back unchanged but for one value: the password stays as it was
    edited = read["text"].replace('username = "box"', 'username = "box2"')
    r = c.post("/api/config/apply", json={"text": edited, "base": read["base"]}, headers=token)
    assert r.status_code == 200 and "hunter2-secret" not in r.get_data(as_text=True)
    assert 'password = "hunter2-secret"  # keep' in cfg.read_text()
    assert 'username = "box2"' in cfg.read_text()
    history = list(box.home.config_history_dir.glob("box-*.toml"))
    assert history and not any("hunter2-secret" in p.read_text() for p in history)
    # a mask with nothing behind it is refused by name, never saved as the password
    r = c.post(
        "/api/config/check",
        json={"text": read["text"].replace("[sync]", "[sync.tls_missing]")},
        headers=token,
    )
    assert r.status_code == 400 and "sync.tls_missing.password" in r.json["error"]


def test_a_fallback_to_history_gets_the_secret_back_from_the_current_file(
    home: Path,
) -> None:
    from box.config.changes import archive
    from box.runtime.daemon import _with_current_secrets

    current = home / "box.toml"
    home.mkdir(parents=True, exist_ok=True)
    current.write_text("bogus = [\n" + SECRET_SYNC)  # broken TOML: no secret recoverable
    path = archive(home / "history", "config_version = 1\n" + SECRET_SYNC)
    masked = path.read_text()
    assert "hunter2-secret" not in masked
    assert _with_current_secrets(masked, current) == masked
    current.write_text("config_version = 1\n" + SECRET_SYNC)
    assert "hunter2-secret" in _with_current_secrets(masked, current)


def test_the_throttle_answer_is_translated(box: Daemon) -> None:
    c = client_at(box, "10.0.9.1")
    for _ in range(PAIR_FREE):
        login(c, "admin", "wrong!" * 3)
    c.get("/login?lang=zh-CN")
    r = login(c, "admin", "wrong!" * 3)
    text = r.get_data(as_text=True)
    assert "登录失败次数过多，请" in text and "秒后再试" in text
