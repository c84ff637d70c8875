"""End to end: simulated DWM1001 serial lines -> driver -> pipeline -> positioning rules ->
alarm -> a GPIO pin (MockFactory) and the stored trajectory, in the real daemon; then the
people API, the CLI's queries and a muster over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.paths import BoxHome
from box.people import queries
from box.runtime.daemon import Daemon
from drivers.base import DriverRegistry, default_registry
from drivers.uwb.dwm1001 import Dwm1001Driver
from drivers.uwb.json_driver import JsonSourceDriver
from drivers.uwb.linktrack_driver import LinkTrackDriver
from drivers.uwb.transform import Transform
from sim.uwb import Dwm1001Node, JsonTcpServer, PtyDevice, Walker, linktrack_stream
from tests.conftest import free_port, get_json, open_reader, wait_for, write_config

BODY = """
[store]
commit_interval_ms = 5
maintenance_interval_s = 3600
position_min_move_m = 0.5
position_every_s = 1

[outputs]
pin_factory = "mock"
buzzer = {{ pin = 17 }}

[[outputs.relays]]
name = "reactor_beacon"
pin = 13
max_level = 2
zones = ["reactor"]

[[drivers]]
type = "uwb_dwm1001"
name = "dwm_t2"
port = "{dwm}"
tag = "t2"
mode = "shell"
stream = "lec"
reenter_after_s = 1
transform = {{ offset = [100, 0, 0], rotation_deg = 90 }}

[[drivers]]
type = "uwb_linktrack"
name = "lt"
port = "{lt}"
id_prefix = "lt"

[[drivers]]
type = "uwb_json"
name = "rtls"
transport = "tcp"
port = {json_port}
fields = {{ tag = "tagId", sos = "sos", battery = "battery" }}

[[positioning]]
id = "site"
min_dwell_s = 0.5
margin_m = 0.3

[[positioning.zones]]
id = "reactor"
name = "Reactor hall"
type = "restricted"
polygon = [[100, 0], [110, 0], [110, 10], [100, 10]]
outputs = ["reactor_beacon"]
cameras = ["cam-reactor"]

[[positioning.zones]]
id = "gate"
type = "muster_point"
polygon = [[-20, -20], [-10, -20], [-10, -10], [-20, -10]]

[[positioning.people]]
tag = "t2"
name = "Zhang San"

[[positioning.people]]
tag = "lt7"
name = "Zhao Liu"

[[positioning.people]]
tag = "w1"
name = "Sun Qi"
"""


@pytest.fixture
def running(home: Path) -> Iterator[tuple[Daemon, int, Dwm1001Node]]:
    # Zhang San's module reports in its own frame: rotated 90 degrees, origin at (100, 0).
    # Site (105, 5) is (5, -5) in it; he walks from site (95, 5) into the hall and stays.
    walker = Walker("t2", [(0, 95, 5), (1.5, 95, 5), (3.0, 105, 5)])
    node = Dwm1001Node(walker, garbage=0.1, interleave=0.1)
    node.transform = Transform(offset=(100, 0, 0), rotation_deg=90)
    dwm = PtyDevice(node, interval_s=0.05).start()
    lt = PtyDevice(stream=linktrack_stream([Walker("lt7", [(0, -15, -15)])], 0, junk=0.3)).start()
    rtls = JsonTcpServer([Walker("w1", [(0, 50, 50)], sos_at=(1.0, 1.5))]).start()
    port = free_port()
    write_config(home, BODY.format(dwm=dwm.path, lt=lt.path, json_port=rtls.port), port)
    registry = DriverRegistry(dict(default_registry().drivers))
    for cls in (Dwm1001Driver, LinkTrackDriver, JsonSourceDriver):
        registry.register(cls)
    d = Daemon(BoxHome.under(home), registry=registry)
    d.start()
    try:
        yield d, port, node
    finally:
        d.stop()
        for sim in (dwm, lt, rtls):
            sim.stop()


def test_serial_lines_to_alarm_pin_and_stored_trajectory(running, home: Path) -> None:  # noqa: ANN001
    d, port, node = running
    alarm_id = "person:t2:unauthorised:reactor"
    wait_for(
        lambda: alarm_id in d.engine.alarms and d.engine.alarms[alarm_id].effective,
        what="the unauthorised entry alarm",
    )
    beacon = d.outputs.factory.pin(13)
    wait_for(lambda: beacon.state, what="the reactor beacon relay")
    alarm = d.engine.alarms[alarm_id]
    assert alarm.detail["person"] == "Zhang San" and alarm.detail["cameras"] == ["cam-reactor"]
    assert 100 <= alarm.detail["x"] <= 105.2  # where he crossed into the hall
    diag = d.api.driver_diagnostics()["dwm_t2"]
    assert diag["dropped_lines"] > 0, "the injected garbage was dropped and counted"
    # SOS over JSON: a latched level-1 alarm naming the person.
    wait_for(lambda: "person:w1:sos" in d.engine.alarms, what="the SOS alarm")
    sos = d.engine.alarms["person:w1:sos"]
    assert sos.spec.level == 1 and sos.detail["person"] == "Sun Qi"

    # The stored trajectory: thinned, in site coordinates.
    def stored() -> list[dict]:
        conn = open_reader(home)
        try:
            return queries.track(conn, "t2")
        finally:
            conn.close()

    track = wait_for(lambda: (t := stored()) and t[-1]["x"] > 104 and t, what="stored track")
    assert track[0]["x"] == pytest.approx(95, abs=0.2) and track[0]["y"] == pytest.approx(
        5, abs=0.2
    )
    assert all(a["ts_ms"] <= b["ts_ms"] for a, b in zip(track, track[1:], strict=False))
    assert len(track) < 60, "standing still stores one row per second, not every update"
    # The API for the map: people, zones and their states.
    token = d.api_token

    def api(path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=None if body is None else json.dumps(body).encode(),
        )
        req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())

    snap = api("/api/people")
    names = {p["name"]: p for p in snap["people"]}
    assert names["Zhang San"]["zones"] == ["reactor"]
    assert names["Zhao Liu"]["x"] == pytest.approx(-15, abs=0.01)  # LinkTrack among junk
    reactor = next(z for z in snap["zones"] if z["id"] == "reactor")
    assert reactor["state"] == "alarm" and reactor["count"] == 1
    recent = api("/api/people/track?tag=t2&recent=1")
    assert len(recent) > len(track) / 2 and recent[-1][1] > 104  # full rate, in memory
    # A muster over HTTP: Zhao Liu stands at the muster point, Zhang San in the hall.
    roll = api("/api/people/muster/start", {"who": "test", "reason": "drill"})
    assert [a["person"] for a in roll["accounted"]] == ["Zhao Liu"]
    assert [r["person"] for r in roll["inside"]] == ["Zhang San"]
    report = api("/api/people/muster/end", {"who": "test"})
    assert report["summary"]["accounted"] == 1
    with pytest.raises(urllib.error.HTTPError):
        get_json(f"http://127.0.0.1:{port}/api/people")  # personal data: not without login
