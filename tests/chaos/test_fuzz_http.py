"""Random HTTP requests and uploads against the box's Flask app over a real daemon: random
paths (real routes with random parameters, and junk), methods, headers, bodies and multipart
uploads, anonymous, with a session and with the API token. Never a 500 (the app runs with
TESTING, so an unhandled exception fails the test outright), never a traceback in a body, and
every API error is JSON that says what was wrong. The box stays healthy and its config file
is untouched."""

from __future__ import annotations

import io
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import create_app
from tests.chaos.fuzzing import chaos_settings
from tests.conftest import png_bytes, run_cli, sim_body, write_config

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


class Rig:
    def __init__(self, home: Path) -> None:
        run_cli(home, "init")
        write_config(home, sim_body(interval=0.05, step_at=0.2, step_back=3600))
        self.box = Daemon(BoxHome.under(home))
        self.box.start()
        self.config_before = self.box.home.config_file.read_text()
        self.app: Flask = create_app(self.box.api, {"TESTING": True})
        # The push channel is an endless stream with a sampler thread of its own: it has its
        # own tests (tests/test_web_push*.py, the browser tests); here it would only hang a
        # request until the stream's lifetime ends.
        self.rules = [r for r in self.app.url_map.iter_rules() if r.rule != "/api/push"]
        self.box.accounts.set_password("admin", PASSWORD, must_change=False)
        self.session = self.app.test_client()
        r = self.session.post("/api/session", json={"user": "admin", "password": PASSWORD})
        assert r.status_code == 200, r.get_data(as_text=True)
        self.anonymous = self.app.test_client()
        self.token = {"Authorization": f"Bearer {self.box.api_token}"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("http") / "box")
    yield r
    assert r.box.api.health_problems() == [], "the box is still healthy"
    assert r.box.home.config_file.read_text() == r.config_before, "config untouched"
    r.box.stop()


segment = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=0, max_size=12
) | st.sampled_from(["..", "%2e%2e", "%00", "t1.lel:A1", "admin", "0", "-1", "9" * 30, "%"])
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND"]
header_text = st.text(string.printable.replace("\r", "").replace("\n", ""), max_size=40)


@st.composite
def paths(draw: st.DrawFn, rules: list[Any]) -> str:
    if draw(st.booleans()):
        rule = draw(st.sampled_from(rules))
        path = rule.rule
        for arg in rule.arguments:
            value = draw(segment).replace("/", "%2F") or "x"
            path = re.sub(rf"<[^>]*{arg}>", lambda _m, v=value: v, path)
    else:
        path = "/" + "/".join(draw(st.lists(segment, max_size=4)))
    path = "/" + path.lstrip("/")  # "//x" would be a host name to the test client, not a path
    if path.split("?")[0].rstrip("/") == "/api/push":
        path = "/api/pus"  # see Rig.rules
    if draw(st.booleans()):
        path += "?" + draw(st.text(string.printable.replace("#", ""), max_size=20))
    return path


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["none", "bytes", "json", "form", "multipart"]))
    if kind == "none":
        return {}
    if kind == "bytes":
        ctype = draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "image/png",
                    "text/plain",
                    "multipart/form-data; boundary=x",
                    "application/json; charset=gbk",
                ]
            )  # fmt: skip
        )
        return {"data": draw(st.binary(max_size=300)), "content_type": ctype}
    if kind == "json":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                lambda i: st.lists(i, max_size=3) | st.dictionaries(st.text(max_size=8), i),
                max_leaves=10,
            )
        )
        return {"data": json.dumps(value), "content_type": "application/json"}
    fields = draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4))
    if kind == "form":
        return {"data": fields}
    name = draw(st.sampled_from(["plan.png", "../../box.toml", "/etc/passwd", "", "a\x00b.png"]))
    content = draw(st.sampled_from([png_bytes(8, 8), b"", b"\xff\xd8\xff" + b"x" * 50, b"GIF89a"]))
    return {
        "data": {**fields, "plan": (io.BytesIO(content), name)},
        "content_type": "multipart/form-data",
    }


def _check(r: Any, path: str, method: str) -> None:
    if r.mimetype in ("text/event-stream", "multipart/x-mixed-replace"):
        assert r.status_code == 200, (path, r.status_code)
        r.close()  # an endless live stream (the page's push channel): its headers are the answer
        return
    if r.mimetype in ("application/zip", "application/octet-stream", "image/png", "image/jpeg"):
        assert r.status_code == 200
        return
    text = r.get_data().decode("utf-8")
    assert r.status_code < 500, (path, r.status_code, text[:300])
    assert "Traceback" not in text
    if method == "HEAD":
        assert text == "", "HEAD answers carry no body"
    elif path.startswith("/api/") and r.status_code >= 400 and r.status_code != 405:
        body = json.loads(text)
        assert isinstance(body.get("error"), str) and body["error"].strip(), (path, body)


def _fuzz(rig: Rig, client: FlaskClient, extra: dict[str, str], data: st.DataObject) -> None:
    path = data.draw(paths(rig.rules), "path")
    method = data.draw(st.sampled_from(METHODS), "method")
    headers = dict(extra)
    headers.update(
        data.draw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "Accept",
                        "Accept-Language",
                        "X-Forwarded-For",
                        "Origin",
                        "Referer",
                        "Range",
                        "If-None-Match",
                        "Cookie",
                    ]
                ),
                header_text,
                max_size=3,
            ),  # fmt: skip
            "headers",
        )
    )
    kw = data.draw(bodies(), "body")
    r = client.open(path, method=method, headers=headers, **kw)
    _check(r, path.split("?")[0], method)


@chaos_settings()
@given(data=st.data())
def test_anonymous_requests(rig: Rig, data: st.DataObject) -> None:
    _fuzz(rig, rig.anonymous, {}, data)


@chaos_settings()
@given(data=st.data())
def test_requests_with_the_api_token(rig: Rig, data: st.DataObject) -> None:
    _fuzz(rig, rig.anonymous, rig.token, data)


@chaos_settings()
@given(data=st.data())
def test_requests_in_an_admin_session(rig: Rig, data: st.DataObject) -> None:
    _fuzz(rig, rig.session, {}, data)
