"""A simulated camera: scripted scenes served as HTTP MJPEG on loopback, or written to a file.

Scenes are built from still images (the person photo ships with the tests, licence in
``tests/data/vision/LICENCES.md``) so the whole chain, capture to alarm, runs without a
camera (RTSP through GStreamer's RTSP server from Debian, see ``sim/rtsp_camera.py``):

- ``empty``: a static background, nothing moves but sensor noise;
- ``person``: a person walks in from the left and stops in the right half (an intrusion zone);
- ``flame``: a flickering, growing orange patch (what the smoke/fire baseline must catch);
- ``floodlight``: a light switches on and stays steady (what it must not call fire).

Usage: python -m sim.camera --scene person --port 8554 [--fps 10] [--person PHOTO] [--rtsp]
       python -m sim.camera --scene flame --write out.avi --frames 100
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

SCENES = ("empty", "person", "flame", "floodlight")
DEFAULT_SIZE = (640, 360)  # width, height
PERSON_PHOTO = (
    Path(__file__).resolve().parent.parent / "tests" / "data" / "vision" / "astronaut.png"
)
PERSON_CROP = (20, 14, 365, 512)  # x1, y1, x2, y2 of the person in that photo


def background(width: int, height: int, seed: int = 1) -> Any:
    """A grey-green yard with some texture: never changes, so only noise differs per frame."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = np.empty((height, width, 3), np.float32)
    base[..., 0] = 90 + 30 * y  # B
    base[..., 1] = 110 + 20 * y  # G
    base[..., 2] = 100 + 10 * y  # R
    base += rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return np.clip(base, 0, 255).astype(np.uint8)


class Scene:
    """Frame ``i`` of a scripted scene, as BGR uint8 (deterministic per index)."""

    def __init__(
        self,
        name: str,
        size: tuple[int, int] = DEFAULT_SIZE,
        person_photo: Path = PERSON_PHOTO,
        start_frame: int = 10,
        noise: float = 2.0,
    ) -> None:
        if name not in SCENES:
            raise ValueError(f"unknown scene {name!r}: one of {', '.join(SCENES)}")
        self.name, self.size, self.start, self.noise = name, size, start_frame, noise
        w, h = size
        self._bg = background(w, h)
        self._person: Any = None
        if name == "person":
            import cv2

            photo = cv2.imread(str(person_photo))
            if photo is None:
                raise ValueError(f"cannot read the person photo {person_photo}")
            x1, y1, x2, y2 = PERSON_CROP
            crop = photo[y1:y2, x1:x2]
            ph = int(h * 0.8)
            pw = int(crop.shape[1] * ph / crop.shape[0])
            self._person = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA)

    def person_box(self, i: int) -> tuple[int, int, int, int] | None:
        """Where the person is in frame ``i`` (x1, y1, x2, y2 pixels), None before entry."""
        if self._person is None or i < self.start:
            return None
        w, h = self.size
        ph, pw = self._person.shape[:2]
        stop_x = int(w * 0.6)
        x = min(stop_x, -pw + (i - self.start) * max(8, w // 20))
        y = h - ph
        return x, y, x + pw, y + ph

    def frame(self, i: int) -> Any:
        img = self._bg.copy()
        w, h = self.size
        if self.name == "person":
            box = self.person_box(i)
            if box is not None:
                x1, y1, x2, y2 = box
                sx1, dx1 = max(0, -x1), max(0, x1)
                sx2 = self._person.shape[1] - max(0, x2 - w)
                img[y1:y2, dx1 : dx1 + (sx2 - sx1)] = self._person[:, sx1:sx2]
        elif self.name == "flame" and i >= self.start:
            self._flame(img, i)
        elif self.name == "floodlight" and i >= self.start:
            self._floodlight(img)
        if self.noise:
            rng = np.random.default_rng(i)
            n = rng.normal(0, self.noise, img.shape[:2] + (1,)).astype(np.int16)
            img = np.clip(img.astype(np.int16) + n, 0, 255).astype(np.uint8)
        return img

    def _flame(self, img: Any, i: int) -> None:
        import cv2

        w, h = self.size
        rng = np.random.default_rng(1000 + i)
        grow = min(1.0, 0.3 + 0.05 * (i - self.start))  # it grows over ~14 frames
        cx, base_y = w // 3, int(h * 0.85)
        fw, fh = int(w * 0.12 * grow), int(h * 0.45 * grow)
        pts = [(cx - fw // 2, base_y), (cx + fw // 2, base_y)]
        for k in range(5):  # a ragged top that changes every frame: flicker
            px = cx + fw // 2 - (k + 1) * fw // 6 + int(rng.integers(-fw // 8 - 1, fw // 8 + 1))
            py = base_y - int(fh * rng.uniform(0.5, 1.0))
            pts.append((px, py))
        poly = np.array(pts, np.int32)
        cv2.fillPoly(img, [poly], (0, int(rng.integers(90, 160)), 255))  # orange (BGR)
        core = ((poly - [cx, base_y]) * 0.5 + [cx, base_y]).astype(np.int32)
        cv2.fillPoly(img, [core], (80, 230, 255))  # yellow-white core

    def _floodlight(self, img: Any) -> None:
        import cv2

        w, h = self.size
        cv2.circle(img, (int(w * 0.7), int(h * 0.25)), int(h * 0.12), (235, 250, 255), -1)
        cv2.circle(img, (int(w * 0.7), int(h * 0.25)), int(h * 0.06), (255, 255, 255), -1)


def encode_jpeg(image: Any, quality: int = 80) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class MjpegServer:
    """Serves a scene as ``multipart/x-mixed-replace`` on 127.0.0.1 (``/stream.mjpg``) and one
    frame at ``/snapshot.jpg``. :meth:`stop` closes every stream (a camera going away)."""

    def __init__(self, frames: Callable[[int], Any], port: int = 0, fps: float = 10.0) -> None:
        self.frames, self.fps = frames, fps
        self.index = 0  # the scene's frame index, shared by all clients
        self.clients = 0
        self._stop = threading.Event()
        self._jpeg = encode_jpeg(frames(0))
        self._ready = threading.Condition()
        self._cache: dict[int, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.startswith("/snapshot"):
                    data = server._jpeg
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if not self.path.startswith("/stream"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                server.clients += 1
                try:
                    server._stream(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    server.clients -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, name="mjpeg-http", daemon=True),
            threading.Thread(target=self._clock, name="mjpeg-clock", daemon=True),
        ]

    def start(self) -> MjpegServer:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(5)

    def _clock(self) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        while not self._stop.is_set():
            jpeg = encode_jpeg(self.frames(self.index))
            with self._ready:
                self._jpeg = jpeg
                self.index += 1
                self._ready.notify_all()
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        seen = -1
        h.connection.settimeout(5.0)
        while not self._stop.is_set():
            with self._ready:
                while self.index == seen and not self._stop.is_set():
                    self._ready.wait(1.0)
                seen, data = self.index, self._jpeg
            if self._stop.is_set():
                break
            h.wfile.write(
                b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                + str(len(data)).encode()
                + b"\r\n\r\n"
                + data
                + b"\r\n"
            )
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


SYSTEM_PYTHON = "/usr/bin/python3"  # with Debian's python3-gi and the GStreamer RTSP server


class RtspCamera:
    """The scene over RTSP on loopback: frames written as JPEG files, served by
    ``sim/rtsp_camera.py`` under the system Python (GStreamer). :meth:`stop` ends it."""

    def __init__(self, scene: Scene, folder: Path, port: int, frames: int = 50, fps: int = 10):
        import subprocess

        folder.mkdir(parents=True, exist_ok=True)
        for i in range(frames):
            (folder / f"{i:04d}.jpg").write_bytes(encode_jpeg(scene.frame(i)))
        script = Path(__file__).with_name("rtsp_camera.py")
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            # -I: isolated, so sim/ (with its operator.py) does not shadow the standard library
            [
                SYSTEM_PYTHON,
                "-I",
                str(script),
                "--frames",
                str(folder),
                "--port",
                str(port),
                "--fps",
                str(fps),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None  # noqa: S101 - PIPE
        line = self.proc.stdout.readline().strip()
        if line != self.url:
            err = "" if line else (self.proc.stderr.read() if self.proc.stderr else "")
            self.stop()
            raise OSError(f"RTSP simulator did not start: {line or err[-300:]}")

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def rtsp_available() -> str:
    """ "" if the RTSP simulator can run here, else why not."""
    import subprocess

    try:
        r = subprocess.run(  # noqa: S603
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0'); "
                "from gi.repository import GstRtspServer",
            ],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if r.returncode == 0 else r.stderr.decode(errors="replace")[-200:]


def write_file(scene: Scene, path: Path, frames: int, fps: float = 10.0) -> Path:
    """The scene as a Motion-JPEG AVI (what OpenCV writes without extra codecs)."""
    import cv2

    w, h = scene.size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    if not out.isOpened():
        raise OSError(f"cannot write {path}")
    try:
        for i in range(frames):
            out.write(scene.frame(i))
    finally:
        out.release()
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sim.camera")
    p.add_argument("--scene", choices=SCENES, default="person")
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--person", type=Path, default=PERSON_PHOTO)
    p.add_argument("--write", type=Path, help="write a video file instead of serving")
    p.add_argument("--rtsp", action="store_true", help="serve RTSP (GStreamer) instead of MJPEG")
    p.add_argument("--frames", type=int, default=100)
    args = p.parse_args(argv)
    scene = Scene(args.scene, person_photo=args.person)
    if args.write:
        print(write_file(scene, args.write, args.frames, args.fps))
        return
    if args.rtsp:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sbx-rtsp-") as tmp:
            rtsp = RtspCamera(scene, Path(tmp), args.port, args.frames, int(args.fps))
            print(f"serving scene {args.scene} at {rtsp.url}", flush=True)
            try:
                rtsp.proc.wait()
            except KeyboardInterrupt:
                pass
            finally:
                rtsp.stop()
        return
    server = MjpegServer(scene.frame, args.port, args.fps).start()
    print(f"serving scene {args.scene} at {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
