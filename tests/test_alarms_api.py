"""The alarm API over a real engine and mock pins: commands, errors, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
from flask.testing import FlaskClient

from box.web import create_app
from tests.alarm_harness import Box
from tests.fake_box import FakeBox
from tests.test_alarm_rules import GAS

TOKEN = "k" * 64
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class EngineBox(FakeBox):
    """The box's alarm surface over a harness engine (commands run inline)."""

    api_token = TOKEN

    def __init__(self, box: Box) -> None:
        super().__init__()
        self.box = box
        e = box.engine
        self.ack, self.ack_all, self.reset, self.reset_all = e.ack, e.ack_all, e.reset, e.reset_all
        self.shelve, self.unshelve, self.silence = e.shelve, e.unshelve, e.silence
        self.lamp_test, self.set_threshold = e.lamp_test, e.set_threshold

    def alarm_summary(self) -> dict[str, Any]:
        e = self.box.engine
        return {
            "alarms": e.views,
            "first_out": e.first_out_id,
            "silenced_until": e.silenced_until,
            "profile": e.profile,
            "annunciation": asdict(e.annunciation),
            "outputs": self.box.outputs.states(),
        }


@pytest.fixture
def box() -> Iterator[Box]:
    b = Box(GAS)
    b.read(0, "g", 30)
    yield b
    b.close()


@pytest.fixture
def client(box: Box) -> FlaskClient:
    return create_app(EngineBox(box), {"TESTING": True}).test_client()


def test_list_ack_shelve_unshelve_silence_test(client: FlaskClient, box: Box) -> None:
    s = client.get("/api/alarms").json
    assert [a["id"] for a in s["alarms"]] == ["g:A1"] and s["first_out"] == "g:A1"
    assert s["outputs"]["buzzer"]["mode"] == "intermittent"
    r = client.post("/api/alarms/g:A1/ack", headers=AUTH, json={"who": "ann", "note": "ok"})
    assert r.status_code == 200 and r.json["state"] == "active_ack"
    assert r.json["acked"]["who"] == "api:ann"
    r = client.post(
        "/api/alarms/g:A1/shelve", headers=AUTH, json={"duration_s": 600, "reason": "calibration"}
    )
    assert r.status_code == 200 and r.json["shelved"]["reason"] == "calibration"
    assert client.post("/api/alarms/g:A1/unshelve", headers=AUTH).status_code == 200
    r = client.post("/api/alarms/silence", headers=AUTH, json={"seconds": 30})
    assert r.json["silenced_until"] == pytest.approx(box.clock() + 30)
    assert client.post("/api/alarms/test", headers=AUTH, json={"seconds": 2}).status_code == 200
    assert box.modes()["green"] == "on" and box.modes()["red"] == "on"


@pytest.mark.parametrize(
    ("path", "data", "status", "message"),
    [
        ("/api/alarms/nope/ack", {}, 409, "no alarm 'nope'"),
        ("/api/alarms/g:A1/reset", {}, 409, "cannot be reset"),
        ("/api/alarms/g:A1/shelve", {"duration_s": 60}, 409, "needs a reason"),
        ("/api/alarms/g:A1/shelve", {"reason": "x"}, 400, "'duration_s' must be a number"),
        ("/api/alarms/g:A1/shelve", {"reason": "x", "duration_s": "1h"}, 400, "got '1h'"),
        ("/api/alarms/g:A1/shelve", {"reason": "x", "duration_s": 1e9}, 409, "exceeds"),
        ("/api/alarms/g:A1/shelve", {"reason": "x", "duration_s": -5}, 409, "positive duration"),
        ("/api/alarms/silence", {"seconds": True}, 400, "'seconds' must be a number"),
        ("/api/alarms/test", {"seconds": 3600}, 400, "between 0 and 60"),
    ],
)
def test_bad_commands_get_clear_errors(
    client: FlaskClient, box: Box, path: str, data: dict, status: int, message: str
) -> None:
    r = client.post(path, headers=AUTH, json=data)
    assert r.status_code == status and message in r.json["error"]
    assert box.state_of("g:A1") == "active_unack", "a refused command changes nothing"


def test_writes_need_the_token(client: FlaskClient, box: Box) -> None:
    for path in (
        "/api/alarms/g:A1/ack",
        "/api/alarms/silence",
        "/api/alarms/test",
        "/api/alarms/ack-all",
        "/api/alarms/g:A1/shelve",
    ):
        assert client.post(path, json={}).status_code == 401
    assert box.state_of("g:A1") == "active_unack"


def test_garbage_bodies_are_survived(client: FlaskClient, box: Box) -> None:
    r = client.post("/api/alarms/g:A1/ack", headers=AUTH, data=b"\xff\xfe{{{")
    assert r.status_code == 200 and r.json["acked"]["who"] == "api"
    r = client.post("/api/alarms/ack-all", headers=AUTH, data=b"[1,2]")
    assert r.status_code == 200 and r.json == {"acknowledged": 0}
