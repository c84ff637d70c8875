"""systemd's notify protocol: one datagram to ``$NOTIFY_SOCKET``. No-op outside systemd.

Hand-written because it is a few lines and the PyPI packages for it are unmaintained;
``python-systemd`` would need libsystemd headers to build.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self) -> None:
        self.address = os.environ.get("NOTIFY_SOCKET", "")
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, **fields: str) -> None:
        if not self.address:
            return
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message, address)
            except OSError:
                pass  # systemd gone (shutdown): nothing useful to do

    def ready(self, status: str) -> None:
        self.send(READY="1", STATUS=status)

    def status(self, status: str) -> None:
        self.send(STATUS=status)

    def watchdog(self) -> None:
        self.send(WATCHDOG="1")

    def stopping(self) -> None:
        self.send(STOPPING="1")
