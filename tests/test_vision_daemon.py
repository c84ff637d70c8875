"""End to end: a simulated camera (HTTP MJPEG on loopback) -> capture -> the vision worker in
its own process -> the alarm engine -> a GPIO relay, with the snapshot in the encrypted store;
a worker killed mid-stream is restarted while the gas alarms keep working."""

from __future__ import annotations

import base64
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.records import Position, now_ms
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from drivers.base import DriverRegistry
from drivers.simulated import SimDriver
from sim.camera import MjpegServer, Scene
from tests.conftest import open_reader, sim_body, wait_for, write_config
from vision import snapshots
from vision.driver import CameraDriver

pytest.importorskip("cv2")

CAMERA = """
[[outputs.relays]]
name = "gate_siren"
pin = 6
max_level = 2
channels = ["gate.intrusion"]

[[channels]]
id = "gate.intrusion"
kind = "other"
unit = "persons"
decimals = 0
[channels.alarms]
stale_after_s = 30
[channels.alarms.thresholds]
levels = [{{ name = "intrusion", at = 1.0, level = 2 }}]

[[channels]]
id = "gate.load"
kind = "other"
unit = "ratio"
safety = false
[channels.alarms]
stale_after_s = 30

[[drivers]]
type = "camera"
name = "gate"
url = "{url}"
fps_budget = 8
no_frames_fault_s = 3
backoff_start_s = 0.2
backoff_max_s = 1.0
heartbeat_timeout_s = 5
zones = {{ yard = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]] }}

[drivers.intrusion]
enabled = true
zones = ["yard"]
persistence = {{ k = 2, n = 4, clear_after = 50 }}
"""


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    server = MjpegServer(Scene("person", start_frame=5).frame, fps=8).start()
    yield server
    server.stop()


def states(d: Daemon) -> dict[str, str]:
    return {a["id"]: a["state"] for a in d.engine.views}


@pytest.mark.slow
def test_camera_to_alarm_to_relay_with_a_linked_encrypted_snapshot_and_worker_restart(
    home: Path, camera: MjpegServer
) -> None:
    # The gas channel steps into A1/A2 at 1 s and stays: alarms the camera must not disturb.
    write_config(
        home, sim_body(interval=0.05, step_at=1.0, step_back=3600) + CAMERA.format(url=camera.url)
    )
    registry = DriverRegistry(drivers={"sim": SimDriver, "camera": CameraDriver})
    d = Daemon(BoxHome.under(home), registry=registry)
    d.start()
    try:
        wait_for(
            lambda: states(d).get("gate.intrusion:intrusion", "").startswith("active"),
            timeout=60,
            what="the intrusion alarm",
        )
        live_snap = wait_for(lambda: d.api.snapshot()["records"].get("snapshot", {}).get("gate"))
        assert live_snap["channel"] == "gate.intrusion" and "jpeg_b64" not in live_snap
        siren = d.outputs.states()["relay:gate_siren"]
        assert siren["level"] == 1 and siren["pin"] == "GPIO6", "the relay follows the camera"
        cam = next(s.driver for s in d.supervisors if isinstance(s.driver, CameraDriver))
        assert cam.worker_up and cam.worker.worker_pid

        # Kill the worker mid-stream: the camera's channel faults, the gas path carries on.
        before = d.pipeline.processed_readings
        os.kill(cam.worker.worker_pid, signal.SIGKILL)
        wait_for(lambda: cam.worker_restarts >= 1, timeout=10, what="the worker failure noticed")
        wait_for(
            lambda: states(d).get("gate.intrusion:fault", "").startswith("active"),
            timeout=10,
            what="the camera's fault alarm",
        )
        assert d.pipeline.processed_readings > before, "readings kept flowing"
        assert states(d).get("t1.lel:A1", "").startswith("active"), "the gas alarm stands"
        wait_for(lambda: cam.worker_up and cam.last_result_at, timeout=30, what="worker back")
        wait_for(
            lambda: (
                "gate.intrusion:fault" not in states(d)
                or states(d)["gate.intrusion:fault"] in ("normal", "cleared", "active_ack_cleared")
            ),
            timeout=30,
            what="the fault cleared on recovery",
        )
        _the_cameras_page(d)
    finally:
        d.stop()

    conn = open_reader(home)
    try:
        rows = conn.execute(
            "SELECT ts, source, details FROM events WHERE kind = 'alarm_raised' AND source = ?",
            ("gate.intrusion",),
        ).fetchall()
        raised = [
            (ts, json.loads(det)) for ts, _, det in rows if json.loads(det)["name"] == "intrusion"
        ]
        assert raised, "the intrusion alarm was stored as an event"
        snap = snapshots.for_event(conn, "gate.intrusion", raised[0][0])
        assert snap is not None and "person" in snap.labels and "yard" in snap.labels
        data = snapshots.jpeg(conn, snap.id)
        assert data is not None and data[:2] == b"\xff\xd8"  # a JPEG
        stored = json.loads(
            conn.execute("SELECT data FROM records WHERE id = ?", (snap.id,)).fetchone()[0]
        )
        thumb = base64.b64decode(stored["thumb_b64"])  # the small copy a site may send upstream
        assert thumb[:2] == b"\xff\xd8" and len(thumb) < len(data) / 3
        dets = conn.execute(
            "SELECT data FROM records WHERE type = 'detection' AND key = 'gate'"
        ).fetchall()
        assert any(json.loads(r[0])["snapshot"] == snap.ref for r in dets)
    finally:
        conn.close()
    # The store on disk is encrypted: no JPEG (nor SQLite header) in the clear.
    raw = BoxHome.under(home).database_file.read_bytes()
    assert not raw.startswith(b"SQLite format 3") and b"JFIF" not in raw


def _the_cameras_page(d: Daemon) -> None:
    import re

    from box.web import create_app

    d.writer.flush()
    d.accounts.create("vic", "viewer-password-1", "viewer", must_change=False)
    client = create_app(d.api, {"TESTING": True}).test_client()
    assert client.get("/cameras/snapshot/1.jpg").status_code == 302, "no session: log in"
    assert client.get("/cameras/gate/live.jpg").status_code == 302
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    client.post(
        "/login", data={"user": "vic", "password": "viewer-password-1", "csrf_token": token}
    )
    page = client.get("/cameras").get_data(as_text=True)
    assert 'data-camera="gate"' in page and 'data-detector="intrusion"' in page
    snap = re.search(r"/cameras/snapshot/(\d+)\.jpg", page)
    assert snap, "the intrusion event is listed with its snapshot"
    img = client.get(snap.group(0))
    assert img.status_code == 200 and img.mimetype == "image/jpeg" and img.data[:2] == b"\xff\xd8"
    live_view = client.get("/cameras/gate/live.jpg")
    assert live_view.status_code == 200 and live_view.data[:2] == b"\xff\xd8"
    assert "gate.intrusion" in page.split('id="camera-counts"')[1], "counted per day"


class Sink:
    def __init__(self) -> None:
        self.items: list = []

    def __call__(self, batch: list) -> None:
        self.items.extend(batch)

    def readings(self, channel: str) -> list:
        from box.core.records import Reading

        return [r for r in list(self.items) if isinstance(r, Reading) and r.channel == channel]


@pytest.mark.slow
def test_a_camera_without_frames_faults_and_recovers() -> None:
    from box.core.records import Quality
    from box.runtime.supervisor import DriverSupervisor
    from vision.config import CameraDriverConfig

    scene = Scene("empty", size=(320, 180))
    server = MjpegServer(scene.frame, fps=8).start()
    cfg = CameraDriverConfig(
        type="camera",
        name="yard",
        url=server.url,
        width=320,
        height=180,
        fps_budget=8,
        no_frames_fault_s=1,
        backoff_start_s=0.1,
        backoff_max_s=0.5,
        open_timeout_s=1,
    )
    sink = Sink()
    sup = DriverSupervisor(CameraDriver(cfg, sink), lambda *a: None)
    sup.start()
    try:
        wait_for(
            lambda: any(r.quality == Quality.GOOD for r in sink.readings("yard.intrusion")),
            timeout=60,
            what="first results",
        )
        server.stop()
        n = len(sink.items)
        bad = wait_for(
            lambda: [r for r in sink.items[n:] if getattr(r, "quality", 0) == Quality.BAD],
            timeout=15,
            what="the no-frames fault",
        )
        assert "no frames from camera" in bad[0].reason
        assert {r.channel for r in bad} == {"yard.intrusion", "yard.load"}
        server = MjpegServer(scene.frame, port=server.port, fps=8).start()
        m = len(sink.items)
        wait_for(
            lambda: any(getattr(r, "quality", 2) == Quality.GOOD for r in sink.items[m:]),
            timeout=20,
            what="recovery after the stream came back",
        )
    finally:
        sup.stop()
        server.stop()


LINKED = """
[[positioning]]
id = "site"
min_dwell_s = 0

[[positioning.zones]]
id = "yard"
name = "Yard"
type = "restricted"
polygon = [[0, 0], [10, 0], [10, 10], [0, 10]]
cameras = ["gate"]

[[positioning.people]]
tag = "t1"
name = "Li Wei"
role = "fitter"
"""


@pytest.mark.slow
def test_a_positioning_alarm_in_a_zone_takes_a_snapshot_from_its_linked_camera(
    home: Path,
) -> None:
    server = MjpegServer(Scene("empty").frame, fps=8).start()
    write_config(home, sim_body() + CAMERA.format(url=server.url) + LINKED)
    registry = DriverRegistry(drivers={"sim": SimDriver, "camera": CameraDriver})
    d = Daemon(BoxHome.under(home), registry=registry)
    d.start()
    try:
        wait_for(lambda: d.api.snapshot()["channels"], what="the box running")
        d.pipeline.submit([Position("t1", now_ms(), 5.0, 5.0)])  # not authorised in the yard
        d.pipeline.submit([Position("t1", now_ms() + 1, 5.0, 5.0, sos=True)])

        def linked() -> list[tuple[str, int]]:
            d.writer.flush()
            conn = open_reader(home)
            try:
                rows = conn.execute(
                    "SELECT source, ts FROM events WHERE kind = 'alarm_raised' "
                    "AND (source LIKE 'person:%' OR source LIKE 'zone:%')"
                ).fetchall()
                found = [(s, t) for s, t in rows if snapshots.for_event(conn, s, t)]
            finally:
                conn.close()
            return found if len(found) >= 2 else []

        found = wait_for(linked, timeout=30, what="snapshots of both positioning alarms")
        conn = open_reader(home)
        try:
            snap = snapshots.for_event(conn, *found[0])
            assert snap is not None and snap.camera == "gate" and "Li Wei" in snap.labels
            data = snapshots.jpeg(conn, snap.id)
            assert data is not None and data[:2] == b"\xff\xd8"
        finally:
            conn.close()
        assert d.supervisors[-1].driver.diagnostics()["linked_snapshots"] >= 2
    finally:
        d.stop()
        server.stop()


@pytest.mark.slow
def test_a_camera_is_a_marker_of_the_site_map(home: Path, camera: MjpegServer) -> None:
    from box.web import create_app
    from box.web.camera_pages import _cameras_push
    from tests.conftest import png_bytes

    write_config(home, sim_body() + CAMERA.format(url=camera.url))
    registry = DriverRegistry(drivers={"sim": SimDriver, "camera": CameraDriver})
    d = Daemon(BoxHome.under(home), registry=registry)
    d.start()
    try:
        (BoxHome.under(home).data_dir / "site-plan.png").write_bytes(png_bytes(400, 300))
        wait_for(lambda: _cameras_push(d.api).get("cameras"), what="the camera's state")
        assert _cameras_push(d.api)["cameras"][0]["name"] == "gate"
        client = create_app(d.api, {"TESTING": True}).test_client()
        token = {"Authorization": f"Bearer {d.api.api_token}"}
        r = client.post("/api/site/positions", json={"channel": "camera:gate", "x": 10, "y": 20},
                        headers=token)  # fmt: skip
        assert r.status_code == 200, r.get_data(as_text=True)
        bad = client.post("/api/site/positions", json={"channel": "camera:nope", "x": 1, "y": 1},
                          headers=token)  # fmt: skip
        assert bad.status_code == 400
    finally:
        d.stop()
