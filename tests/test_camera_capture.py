"""Camera capture over real transports: HTTP MJPEG on loopback and a video file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drivers.camera.capture import Capture, source_kind
from sim.camera import MjpegServer, Scene, write_file

pytest.importorskip("cv2")


def test_source_kinds() -> None:
    assert source_kind("rtsp://10.0.0.5:554/Streaming/Channels/101") == "rtsp"
    assert source_kind("http://127.0.0.1:8080/stream.mjpg") == "http"
    assert source_kind("/dev/video0") == "v4l2" and source_kind("v4l2:1") == "v4l2"
    assert source_kind("/var/lib/clip.avi") == "file"


def test_capture_keeps_only_the_newest_frame_and_reconnects_after_the_stream_stops() -> None:
    scene = Scene("empty", size=(160, 120))
    server = MjpegServer(scene.frame, fps=20).start()
    cap = Capture("c1", server.url, timeout_s=2, backoff_start_s=0.1, backoff_max_s=0.4).start()
    try:
        first = cap.wait(0, 10)
        assert first is not None and first.image.shape == (120, 160, 3)
        time.sleep(0.5)  # nobody asks: frames are grabbed (the stream stays current), not decoded
        later = cap.wait(first.seq, 10)  # the next grabbed frame, not the oldest waiting
        assert later is not None and later.seq >= first.seq + 3 and cap.dropped >= 2
        server.stop()  # the camera goes away
        for _ in range(100):
            if not cap.connected:
                break
            cap.wait(cap.frames, 0.1)
        assert not cap.connected and cap.last_error
        server = MjpegServer(scene.frame, port=server.port, fps=20).start()
        again = cap.wait(later.seq, 15)
        assert again is not None and cap.connected and cap.reconnects >= 1
        assert cap.last_error == ""
    finally:
        cap.stop()
        server.stop()


def test_a_file_is_paced_and_looped(tmp_path: Path) -> None:
    path = write_file(Scene("flame", size=(160, 120)), tmp_path / "clip.avi", frames=5, fps=50)
    cap = Capture("f1", str(path)).start()
    try:
        f = cap.wait(0, 5)
        assert f is not None
        assert cap.wait(8, 5) is not None  # 5 frames in the file, more seen: it loops
    finally:
        cap.stop()


def test_a_source_that_cannot_open_is_retried_and_says_why(tmp_path: Path) -> None:
    cap = Capture("x", str(tmp_path / "missing.avi"), backoff_start_s=0.05).start()
    try:
        assert cap.wait(0, 0.5) is None
        assert "cannot open file source" in cap.last_error and cap.silent_for() > 0.4
    finally:
        cap.stop()


def test_rtsp_from_the_gstreamer_simulator_and_reconnect(tmp_path: Path) -> None:
    from sim.camera import RtspCamera, rtsp_available
    from tests.conftest import free_port

    why = rtsp_available()
    if why:
        pytest.skip(reason=f"GStreamer RTSP server not installed (make test installs it): {why}")
    port = free_port()
    scene = Scene("person", size=(320, 240))  # RTP/JPEG carries sizes in multiples of 8
    cam = RtspCamera(scene, tmp_path / "frames", port, frames=20)
    cap = Capture("r1", cam.url, timeout_s=3, backoff_start_s=0.2, backoff_max_s=0.5).start()
    try:
        first = cap.wait(0, 20)
        assert first is not None and first.image.shape == (240, 320, 3) and cap.kind == "rtsp"
        cam.stop()
        for _ in range(200):
            if not cap.connected:
                break
            cap.wait(cap.frames, 0.1)
        assert not cap.connected
        cam = RtspCamera(scene, tmp_path / "frames", port, frames=20)
        assert cap.wait(cap.frames, 30) is not None and cap.reconnects >= 1
    finally:
        cap.stop()
        cam.stop()
