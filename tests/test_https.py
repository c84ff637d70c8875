"""HTTPS for the web page: the certificate from init, the Secure cookie, the CLI over TLS."""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.tls import client_context, default_paths, fingerprint
from tests.conftest import free_port, run_cli, sim_body


def test_init_makes_a_certificate_once(tmp_path: Path) -> None:
    home = tmp_path / "box"
    first = json.loads(run_cli(home, "init", "--json").output)
    cert_path, key_path = default_paths(home / "keys")
    assert first["created"]["web_certificate"] is True
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert first["web_certificate"]["sha256"] == fingerprint(cert_path)
    again = json.loads(run_cli(home, "init", "--json").output)
    assert again["created"]["web_certificate"] is False, "a trusted certificate is kept"
    assert again["web_certificate"]["sha256"] == first["web_certificate"]["sha256"]
    assert "SHA-256 " + fingerprint(cert_path) in run_cli(home, "init").output


@pytest.fixture
def https_box(tmp_path: Path) -> Iterator[tuple[Daemon, int, str]]:
    home = tmp_path / "box"
    info = json.loads(run_cli(home, "init", "--json").output)
    port = free_port()
    (home / "box.toml").write_text(
        f'config_version = 1\n[web]\nlisten = ["127.0.0.1:{port}"]\nhttps = true\n'
        + sim_body(interval=0.05, step_at=3600, step_back=7200)
    )
    d = Daemon(BoxHome.under(home))
    d.start()
    yield d, port, info["web_login"]["password"]
    d.stop()


def _request(
    port: int, ctx: ssl.SSLContext | None, method: str, path: str, **kw: object
) -> http.client.HTTPResponse:
    conn = (
        http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        if ctx
        else http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    )
    conn.request(method, path, **kw)
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def test_the_box_serves_https_with_secure_cookies(https_box) -> None:  # noqa: ANN001
    d, port, password = https_box
    ctx = client_context(default_paths(d.home.keys_dir)[0])
    resp = _request(port, ctx, "GET", "/api/status")
    assert resp.status == 200 and json.loads(resp.body)["box_id"] == d.box_id
    try:  # cheroot answers plain HTTP with a 400 or resets the connection
        assert _request(port, None, "GET", "/api/status").status == 400
    except (ConnectionError, http.client.HTTPException):
        pass
    with pytest.raises(ssl.SSLCertVerificationError):
        _request(port, ssl.create_default_context(), "GET", "/api/status")  # not a public CA
    page = _request(port, ctx, "GET", "/login")
    cookie = page.getheader("Set-Cookie")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body).group(1).decode()
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    form = f"user=admin&password={password}&csrf_token={token}"
    resp = _request(
        port,
        ctx,
        "POST",
        "/login",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie.split(";")[0],
        },
    )
    assert resp.status == 302 and resp.getheader("Location") == "/password"
    assert "Secure" in resp.getheader("Set-Cookie")


def test_the_cli_talks_to_its_box_over_https(https_box) -> None:  # noqa: ANN001
    d, _, _ = https_box
    status = json.loads(run_cli(d.home.config_file.parent, "status", "--json").output)
    assert status["box_id"] == d.box_id
    result = run_cli(d.home.config_file.parent, "config", "reload")
    assert "applied" in result.output


def test_a_missing_certificate_is_a_web_fault_not_a_dead_box(tmp_path: Path) -> None:
    home = tmp_path / "box"
    run_cli(home, "init")
    default_paths(home / "keys")[0].unlink()
    port = free_port()
    (home / "box.toml").write_text(
        f'config_version = 1\n[web]\nlisten = ["127.0.0.1:{port}"]\nhttps = true\n' + sim_body()
    )
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        assert "cannot listen" in d.web_error and "web.crt" in d.web_error
        assert d.api.health_problems() == [], "the alarms run without the page"
    finally:
        d.stop()


def test_cert_and_key_files_come_in_pairs(tmp_path: Path) -> None:
    home = tmp_path / "box"
    run_cli(home, "init")
    bad = tmp_path / "bad.toml"
    bad.write_text('config_version = 1\n[web]\ncert_file = "/etc/ssl/site.pem"\n')
    result = run_cli(home, "config", "check", str(bad), check=False)
    assert result.exit_code == 1 and "set both cert_file and key_file" in result.output


def test_doctor_shows_the_certificate_fingerprint(https_box) -> None:  # noqa: ANN001
    d, _, _ = https_box
    out = json.loads(run_cli(d.home.config_file.parent, "doctor", "--json", check=False).output)
    (check,) = [c for c in out if c["name"] == "web certificate"]
    assert check["status"] == "ok"
    assert fingerprint(default_paths(d.home.keys_dir)[0]) in check["detail"]
