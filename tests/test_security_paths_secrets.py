"""Security of the page beyond roles (those are in test_web_pages.py): the routes that answer
without a login are exactly the documented read-only ones and refuse every write; uploads
and downloads cannot leave their folders (../, absolute names, symlinks); and no secret (the
broker password, the API token, the store, sync and downlink keys) appears in logs, the
diagnostics bundle, ``config show`` or error pages."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from box.cli import main
from box.keys import STORE_KEY, FileKeyProvider
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import create_app
from tests.conftest import REPO, free_port, png_bytes, run_cli, sim_body, write_config

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
BROKER_PASSWORD = "hunter2-chaos-Broker-pw"
# Routes a client may use without an account: the login itself, static files, the API's
# description and the read-only monitoring endpoints documented in docs/SECURITY.md.
LOGIN = {"/login", "/api/session"}
ALWAYS_OPEN = {"/static/<path:filename>", "/api/openapi.json"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Daemon]:
    home = tmp_path / "box"
    run_cli(home, "init")
    sync = (
        f'\n[sync]\nenabled = true\nport = {free_port()}\nusername = "box"\n'
        f'password = "{BROKER_PASSWORD}"\nreconnect_min_s = 0.1\nreconnect_max_s = 0.2\n'
    )
    write_config(home, sync + sim_body(interval=0.05, step_at=0.2, step_back=3600))
    d = Daemon(BoxHome.under(home))
    d.start()
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    yield d
    d.stop()


def admin(d: Daemon) -> FlaskClient:
    c = create_app(d.api, {"TESTING": True}).test_client()
    r = c.post("/api/session", json={"user": "admin", "password": PASSWORD})
    assert r.status_code == 200
    c.csrf = r.json["csrf_token"]  # type: ignore[attr-defined]
    return c


def documented_public() -> set[str]:
    text = (REPO / "docs" / "SECURITY.md").read_text()
    sentence = text[text.index("Not stopped: the read-only monitoring endpoints") :]
    sentence = sentence[: sentence.index("\n\n")]
    return set(re.findall(r"`(/api/[a-z/]+)`", sentence))


def test_only_documented_read_only_routes_answer_without_a_session(box: Daemon) -> None:
    app = create_app(box.api, {"TESTING": True})
    public_read = documented_public()
    assert public_read == {"/api/status", "/api/alarms", "/api/health"}
    anonymous = app.test_client()
    open_rules = set()
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = anonymous.open(url, method=method, data={})
            if r.status_code < 300 and "/login" not in r.headers.get("Location", ""):
                open_rules.add((rule.rule, method))
    for path, method in open_rules:
        if path in LOGIN:
            continue  # logging in needs no session, by definition
        assert path in public_read | ALWAYS_OPEN, f"{method} {path} answers without a session"
        assert method == "GET", f"{method} {path}: a public route must be read-only"
    # and every write to a public route is refused
    for path in public_read | ALWAYS_OPEN:
        url = path.replace("<path:filename>", "app.css")
        for method in WRITES:
            assert anonymous.open(url, method=method, data="{}").status_code in (401, 403, 405)


def test_uploads_cannot_leave_the_data_folder(box: Daemon, tmp_path: Path) -> None:
    c = admin(box)
    token = c.csrf  # type: ignore[attr-defined]
    data_dir = box.home.data_dir
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"not to be overwritten")
    outside = [tmp_path / "evil.png", Path("/tmp/safetybox-chaos-evil.png"), REPO / "evil.png"]
    for name in (
        "../../evil.png",
        "/tmp/safetybox-chaos-evil.png",
        "..\\..\\evil.png",
        "a/../../x",
    ):
        r = c.put(
            "/api/site/plan", data=png_bytes(8, 8), headers={"X-CSRF-Token": token},
            content_type="image/png",
        )  # fmt: skip
        assert r.status_code == 200, r.get_data(as_text=True)
        r = c.post(
            "/site/plan",
            data={"plan": (io.BytesIO(png_bytes(8, 8)), name), "csrf_token": token},
            content_type="multipart/form-data",
        )
        assert r.status_code in (302, 400, 403), (name, r.status_code)
    assert all(not p.exists() for p in outside)
    assert sorted(p.name for p in data_dir.glob("site-plan.*")) == ["site-plan.png"]
    # A plan file replaced by a symlink (someone with a shell on the box) is replaced, never
    # written through: the file it pointed at is untouched.
    plan = data_dir / "site-plan.png"
    plan.unlink()
    plan.symlink_to(victim)
    r = c.put("/api/site/plan", data=png_bytes(8, 8), headers={"X-CSRF-Token": token},
              content_type="image/png")  # fmt: skip
    assert r.status_code == 200
    assert victim.read_bytes() == b"not to be overwritten"
    assert not plan.is_symlink() and plan.read_bytes().startswith(b"\x89PNG")


ESCAPES = [
    "/static/../box.toml",
    "/static/..%2f..%2fbox.toml",
    "/static/%2e%2e/%2e%2e/box.toml",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/....//....//etc/passwd",
    "/static/..\\..\\box.toml",
    "/static/app.css%00.toml",
    "/site/plan/../../box.toml",
]


def test_downloads_cannot_leave_their_folder(box: Daemon) -> None:
    c = admin(box)
    for path in ESCAPES:
        r = c.get(path, follow_redirects=True)  # "//" is merged by a redirect first
        assert r.status_code in (400, 404), (path, r.status_code)
        body = r.get_data()
        assert b"config_version" not in body and b"root:" not in body, path


def secrets_of(d: Daemon) -> dict[str, str]:
    prov = json.loads(run_cli(d.home.config_file.parent, "keys", "export").output)
    found = {
        "broker password": BROKER_PASSWORD,
        "api token": d.api_token,
        "store key": FileKeyProvider(d.home.keys_dir).get(STORE_KEY).hex(),
        "downlink key": prov["downlink_key"],
    }
    for i, k in enumerate(prov["sync_keys"]):
        found[f"sync key {i}"] = k["key"]
    return found


def assert_clean(text: str, secrets: dict[str, str], where: str) -> None:
    for name, value in secrets.items():
        assert value not in text, f"the {name} appears in {where}"


def test_no_secret_in_logs_diagnostics_config_show_or_error_pages(
    box: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = secrets_of(box)
    home = box.home.config_file.parent
    c = admin(box)
    # config show, both forms
    for args in (["config", "show"], ["config", "show", "--json"]):
        out = CliRunner().invoke(main, ["--home", str(home), *args]).output
        assert "sync" in out
        assert_clean(out, secrets, " ".join(args))
    # the diagnostics bundle, every file in it
    r = c.get("/api/diagnostics")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.get_data())) as z:
        names = z.namelist()
        assert "config.json" in names
        for name in names:
            assert_clean(z.read(name).decode("utf-8", "replace"), secrets, f"diagnostics {name}")
    # status, config API, error pages
    anonymous = create_app(box.api, {"TESTING": True}).test_client()
    answers = [
        anonymous.get("/api/status"),
        c.get("/api/status"),
        c.get("/api/config"),
        anonymous.get("/no/such/page"),
        anonymous.get("/api/no/such"),
        anonymous.delete("/api/status"),
        c.post("/api/config/check", data=b"{not json", content_type="application/json"),
        c.post("/api/config/check", json={"text": "[sync]\npassword = 3\n"}),
        anonymous.post("/api/session", json={"user": "admin", "password": BROKER_PASSWORD}),
        c.post("/api/alarms/x/ack", data=b"x" * (2 * 1024 * 1024), content_type="text/plain"),
    ]
    for r in answers:
        assert_clean(r.get_data(as_text=True), secrets, f"{r.request.path} ({r.status_code})")
    assert any(r.status_code == 404 for r in answers) and any(r.status_code == 413 for r in answers)
    # The logs of all of that, with the uplink failing to connect with the password set.
    assert "sync" in caplog.text or box.sync is not None
    assert_clean(caplog.text, secrets, "the log")
