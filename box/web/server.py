"""Serve the WSGI app with waitress in a background thread, on the configured addresses only.

The sockets are bound here, before waitress starts its worker threads, so an address in use is
a clean error that leaves nothing running.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)


def bind(listen: list[str]) -> list[socket.socket]:
    """Bound, listening sockets for ``HOST:PORT`` entries; closes them all if one fails."""
    sockets: list[socket.socket] = []
    try:
        for entry in listen:
            host, _, port = entry.rpartition(":")
            host = host.strip("[]")
            family, kind, proto, _, addr = socket.getaddrinfo(
                host, int(port), type=socket.SOCK_STREAM
            )[0]
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(64)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class WebServer:
    """Runs waitress's poll loop in its own thread; stop() ends the loop, then closes from that
    same thread (closing sockets under a running select() from outside raises EBADF)."""

    def __init__(self, app: Any, listen: list[str], threads: int = 4) -> None:
        self._map: dict[int, Any] = {}
        self._server = create_server(app, map=self._map, sockets=bind(listen), threads=threads)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.2, map=self._map, use_poll=True, count=1)
        finally:
            wasyncore.close_all(self._map)
            self._server.task_dispatcher.shutdown(timeout=5)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:  # never started: release sockets and worker threads here
            wasyncore.close_all(self._map)
            self._server.task_dispatcher.shutdown(timeout=timeout)
