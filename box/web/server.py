"""Serve the WSGI app with waitress in a background thread, on the configured addresses only."""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.server import create_server

log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, app: Any, listen: list[str], threads: int = 4) -> None:
        self._server = create_server(app, listen=" ".join(listen), threads=threads)
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def addresses(self) -> list[str]:
        return [f"{host}:{port}" for host, port in self._server.effective_listen] if hasattr(
            self._server, "effective_listen") else []  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._server.close()
        self._server.task_dispatcher.shutdown(timeout=timeout)
        self._thread.join(timeout)
