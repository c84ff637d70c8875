"""The HTTP API with Flask's test client: every route, bad requests get clear JSON errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from box.paths import BoxHome
from box.web import create_app
from tests.fake_box import FakeBox


@pytest.fixture
def box() -> FakeBox:
    return FakeBox()


@pytest.fixture
def client(box: FakeBox) -> FlaskClient:
    return create_app(box, {"TESTING": True}).test_client()


def test_status_health_and_index(client: FlaskClient, box: FakeBox) -> None:
    assert client.get("/api/status").json == {"box_id": "sb-x", "channels": []}
    assert client.get("/").headers["Location"] == "/login"
    assert client.get("/api/health").json == {"ok": True, "problems": []}
    box.problems = ["pipeline stuck or dead"]
    resp = client.get("/api/health")
    assert resp.status_code == 503 and resp.json["problems"] == ["pipeline stuck or dead"]


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({}, b"{}"),
        ({"Authorization": "Bearer nope"}, b"{}"),
        ({"Authorization": "Basic " + "t" * 64}, b"{}"),
        ({"Authorization": "Bearer"}, b""),
    ],
)
def test_reload_refuses_without_the_token(
    client: FlaskClient, box: FakeBox, headers: dict, data: bytes
) -> None:
    resp = client.post("/api/config/reload", headers=headers, data=data)
    assert resp.status_code == 401 and "API token" in resp.json["error"]
    assert box.reloads == []


@pytest.mark.parametrize(
    ("data", "who"),
    [
        (b'{"who": "alice"}', "api:alice"),
        (b"not json{", "api"),
        (b'["x"]', "api"),
        (b'{"who": 5}', "api"),
        (b'{"who": "' + b"x" * 500 + b'"}', "api:" + "x" * 64),
    ],
)
def test_reload_with_token_survives_any_body(
    client: FlaskClient, box: FakeBox, data: bytes, who: str
) -> None:
    resp = client.post(
        "/api/config/reload", headers={"Authorization": f"Bearer {box.api_token}"}, data=data
    )
    assert resp.status_code == 200 and box.reloads == [who]


def test_unknown_route_and_wrong_method_are_json(client: FlaskClient) -> None:
    resp = client.get("/api/nope")
    assert resp.status_code == 404 and resp.json["error"] == "not found"
    resp = client.get("/api/config/reload")
    assert resp.status_code == 405 and "not allowed" in resp.json["error"].lower()


def test_home_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SAFETYBOX_HOME", raising=False)
    system = BoxHome.resolve()
    assert system.config_file == Path("/etc/safetybox/box.toml")
    assert system.keys_dir == Path("/etc/safetybox/keys")
    assert system.database_file == Path("/var/lib/safetybox/box.db")
    monkeypatch.setenv("SAFETYBOX_HOME", str(tmp_path))
    assert BoxHome.resolve().config_file == tmp_path / "box.toml"
    assert BoxHome.resolve(tmp_path / "x").data_dir == tmp_path / "x" / "data"
