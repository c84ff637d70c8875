"""A TCP proxy on loopback between the box and a real broker, for network fault tests: it can
be cut (existing connections reset, new ones refused), restored, or slowed (every chunk held
back for ``delay_s`` in each direction). Every thread it starts is stopped by :meth:`close`.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

from tests.conftest import free_port

RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends a reset, as a cut


class FaultyLink:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.delay_s = 0.0
        self.connections = 0
        self._up = threading.Event()
        self._up.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._spawn(self._accept_loop, "proxy-accept")

    # -- control ---------------------------------------------------------------------------

    def cut(self) -> None:
        """The link goes down: open connections are reset, new ones are closed at once."""
        self._up.clear()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        for t in self._threads:
            t.join(5)
        self._listener.close()

    # -- plumbing --------------------------------------------------------------------------

    def _spawn(self, target, name: str, *args) -> None:  # noqa: ANN001
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            self.connections += 1
            with self._lock:
                self._socks += [client, upstream]
            self._spawn(self._pump, "proxy-pump", client, upstream)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set() and self._up.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.delay_s:
                        time.sleep(self.delay_s)
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
