"""Runs one driver in its own thread, restarting it with backoff when it raises."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from drivers.base import Driver

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_AFTER_S = 60.0  # a driver that ran this long before failing starts backoff afresh

FaultHook = Callable[[str, str, float], None]
"""Called with (driver name, error text, seconds until the restart)."""


class DriverSupervisor:
    def __init__(self, driver: Driver, on_fault: FaultHook) -> None:
        self.driver = driver
        self.name = driver.config.name
        self.on_fault = on_fault
        self.restarts = 0
        self.last_error = ""
        self.state = "starting"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"driver-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the driver to stop; False if its thread did not end in time."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("driver %s did not stop within %.0f s", self.name, timeout)
            return False
        return True

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        first, cap = self.driver.restart_backoff(BACKOFF_START_S, BACKOFF_MAX_S)
        backoff = first
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.state = "running"
                self.driver.start()
                self.driver.run(self._stop)
            except Exception as exc:  # noqa: BLE001 - any driver failure is contained here
                if time.monotonic() - started > STABLE_AFTER_S:
                    backoff = first
                self.restarts += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.state = "backoff"
                log.error("driver %s failed: %s; restart in %.0f s", self.name, exc, backoff)
                self.on_fault(self.name, self.last_error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, cap)
            finally:
                try:
                    self.driver.stop()
                except Exception:
                    log.exception("driver %s failed while stopping", self.name)
        self.state = "stopped"
