"""An RTSP camera on loopback, from a folder of JPEG frames, with GStreamer's RTSP server.

Runs under the system Python (Debian's ``python3-gi`` and ``gir1.2-gst-rtsp-server-1.0``), not
the project's virtualenv: it imports only ``gi`` and the standard library. The JPEG frames are
looped, paced at ``--fps`` and sent as RTP/JPEG (RFC 2435); OpenCV's FFmpeg reads them like a
camera's MJPEG sub-stream. ``sim.camera.RtspCamera`` starts it from the virtualenv.

Usage: /usr/bin/python3 sim/rtsp_camera.py --frames DIR --port 8554 [--fps 10] [--path /cam]
"""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rtsp_camera")
    p.add_argument("--frames", required=True, help="folder of 0000.jpg, 0001.jpg, ...")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--path", default="/cam")
    args = p.parse_args(argv)

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # multifilesrc does not timestamp JPEG: decode, let videorate pace it, encode again.
    factory.set_launch(
        f'( multifilesrc location="{args.frames}/%04d.jpg" index=0 loop=true '
        f'caps="image/jpeg,framerate={args.fps}/1" ! jpegparse ! jpegdec ! videorate '
        f"! video/x-raw,framerate={args.fps}/1 ! jpegenc quality=85 "
        "! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
