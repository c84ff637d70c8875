"""Serve the WSGI app with cheroot (CherryPy's production WSGI server), HTTP or HTTPS, on the
configured addresses only, each in a background thread.

Every address is bound (and the certificate loaded) in the constructor, before anything
serves, so an address in use or a bad certificate is one clean ``OSError`` that leaves nothing
running. cheroot replaced waitress because waitress cannot serve TLS.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from cheroot.wsgi import Server

if TYPE_CHECKING:
    from cheroot.ssl.builtin import BuiltinSSLAdapter
    from flask import Flask

log = logging.getLogger(__name__)

# Limits against slow or oversized requests (a half-sent request holds a worker until its
# socket times out; a 20 MB header used to be read in full). Uploads (site plans, backups to
# restore) are the largest legitimate bodies.
HEADER_LIMIT = 16 * 1024
BODY_LIMIT = 64 * 1024 * 1024
SOCKET_TIMEOUT_S = 5
WEB_THREADS = 16


def split_listen(entry: str) -> tuple[str, int]:
    host, _, port = entry.rpartition(":")
    return host.strip("[]"), int(port)


def _probe(addr: tuple[str, int]) -> None:
    """Bind and release ``addr``, so "address in use" is raised here with the socket closed
    (cheroot leaves the socket of a failed bind to the garbage collector)."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(*addr, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)


def _limited(server: Server) -> Server:
    server.shutdown_timeout = 2
    server.max_request_header_size = HEADER_LIMIT
    server.max_request_body_size = BODY_LIMIT
    server.timeout = SOCKET_TIMEOUT_S
    return server


def _adapter(cert: Path, key: Path) -> BuiltinSSLAdapter:
    from cheroot.ssl.builtin import BuiltinSSLAdapter  # HTTPS only

    try:
        return BuiltinSSLAdapter(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise OSError(
            f"cannot load the TLS certificate {cert} and key {key}: {exc} "
            "(safetybox init makes them; or set web.cert_file and web.key_file)"
        ) from None


def _unix_server(app: Flask, address: str) -> Server:
    """The CLI's control channel: the same app on a unix socket with workers of its own, so a
    page flooded with slow requests never keeps ``safetybox alarms ack`` out."""
    if not address.startswith("\0"):
        folder = Path(address).parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # only the box's user may reach the socket
    server = _limited(Server(address, app, numthreads=2, server_name="safetybox"))
    server.prepare()
    return server


class WebServer:
    def __init__(
        self,
        app: Flask,
        listen: list[str],
        threads: int = WEB_THREADS,
        tls: tuple[Path, Path] | None = None,
        unix_socket: str | None = None,
    ) -> None:
        """``threads`` serve ordinary requests; each open page's push stream holds a thread of
        its own for as long as it is open, so the pool has room for every allowed stream on top
        (box/web/push.py bounds them), and a wall of open pages never starves a click."""
        from box.web.push import Hub

        self._hub: Hub | None = app.extensions.get("safetybox.push")
        streams = self._hub.max_streams if self._hub is not None else 0
        # cheroot would take over fd 3 if it saw systemd socket activation variables; the
        # box binds its own configured addresses.
        os.environ.pop("LISTEN_PID", None)
        self._servers: list[Server] = []
        self._threads: list[threading.Thread] = []
        try:
            for entry in listen:
                addr = split_listen(entry)
                _probe(addr)
                server = _limited(
                    Server(addr, app, numthreads=threads + streams, server_name="safetybox")
                )
                if tls is not None:
                    server.ssl_adapter = _adapter(*tls)
                server.prepare()  # binds and listens; raises OSError if it cannot
                self._servers.append(server)
            if unix_socket is not None:
                self._servers.append(_unix_server(app, unix_socket))
        except Exception as exc:
            self.stop()
            if isinstance(exc, OSError):
                raise
            raise OSError(str(exc)) from exc

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(target=self._serve, args=(server,), name="web", daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _serve(server: Server) -> None:
        try:
            server.serve()
        except Exception:  # a crash of the page must not take anything else down
            log.exception("web server stopped")

    def is_alive(self) -> bool:
        """Every listen address still served (a thread that died is a health problem)."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 10.0) -> None:
        if self._hub is not None:
            self._hub.close()  # ends every stream, so the server's workers can finish
        for server in self._servers:
            server.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._servers.clear()
        self._threads.clear()
