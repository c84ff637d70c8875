"""The facade of a running box: the ports (:class:`box.core.ports.BoxApi`, ``Commands``) that
the web app, the downlink and the CLI's API use, so none of them holds the daemon.

Commands run on the core thread (``pipeline.call``), the only one that touches alarm state.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from box.core.records import Event
from box.keys import STORE_KEY
from box.paths import BoxHome
from box.runtime import status

if TYPE_CHECKING:
    from box.config.schema import BoxConfigBase
    from box.runtime.daemon import Daemon
    from box.sync.downlink import DownlinkBox
    from box.web.accounts import Accounts
    from box.web.port import WebBox
    from drivers.base import DriverRegistry

T = TypeVar("T")
log = logging.getLogger(__name__)


class BoxFacade:
    def __init__(self, daemon: Daemon) -> None:
        self._d = daemon

    # -- what the box is --------------------------------------------------------------------

    @property
    def box_id(self) -> str:
        return self._d.box_id

    @property
    def home(self) -> BoxHome:
        return self._d.home

    @property
    def config(self) -> BoxConfigBase:
        return self._d.config

    @property
    def registry(self) -> DriverRegistry:
        return self._d.registry

    @property
    def api_token(self) -> str:
        return self._d.api_token

    @property
    def https(self) -> bool:
        return self._d.https

    @property
    def accounts(self) -> Accounts:
        if self._d.accounts is None:
            raise RuntimeError("accounts are opened with the web server")
        return self._d.accounts

    @property
    def reader(self) -> sqlite3.Connection:
        """A read-only connection to the store (trends, history), shared by the web threads."""
        if self._d.web_reader is None:
            raise RuntimeError("the store's reader is opened with the web server")
        return self._d.web_reader

    # -- BoxApi -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return status.snapshot(self._d)

    def alarm_summary(self) -> dict[str, Any]:
        return status.alarm_summary(self._d)

    def health_problems(self) -> list[str]:
        return status.health_problems(self._d)

    def driver_diagnostics(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.driver.diagnostics() for s in self._d.supervisors}

    # -- Commands (each on the core thread) --------------------------------------------------

    def ack(self, alarm_id: str, who: str, note: str = "") -> dict[str, Any]:
        return self._on_core(lambda: self._d.engine.ack(alarm_id, who, note))

    def ack_all(self, who: str) -> int:
        return self._on_core(lambda: self._d.engine.ack_all(who))

    def reset(self, alarm_id: str, who: str) -> dict[str, Any]:
        return self._on_core(lambda: self._d.engine.reset(alarm_id, who))

    def reset_all(self, who: str) -> int:
        return self._on_core(lambda: self._d.engine.reset_all(who))

    def shelve(self, alarm_id: str, who: str, duration_s: float, reason: str) -> dict[str, Any]:
        return self._on_core(lambda: self._d.engine.shelve(alarm_id, who, duration_s, reason))

    def unshelve(self, alarm_id: str, who: str) -> dict[str, Any]:
        return self._on_core(lambda: self._d.engine.unshelve(alarm_id, who))

    def silence(self, who: str, seconds: float | None = None) -> float:
        return self._on_core(lambda: self._d.engine.silence(who, seconds))

    def lamp_test(self, who: str, seconds: float = 5.0) -> None:
        self._on_core(lambda: self._d.engine.lamp_test(who, seconds))

    def set_threshold(self, channel: str, level: str, at: float, who: str) -> dict[str, Any]:
        return self._on_core(lambda: self._d.engine.set_threshold(channel, level, at, who))

    def set_output(self, relay: str, active: bool | None, who: str) -> None:
        self._on_core(lambda: self._d.outputs.force(relay, active))

    def reload(self, who: str) -> dict[str, Any]:
        return self._d.reload(who)

    def positioning(self, action: str, args: dict[str, Any] | None = None) -> Any:
        """A request for the positioning rules (snapshot, muster_start, ...), on the core."""
        return self._on_core(
            lambda: self._d.engine.site_command("positioning", action, dict(args or {}))
        )

    # -- the store, for the web and the downlink ----------------------------------------------

    def submit_event(self, event: Event) -> None:
        self._d.writer.submit_event(event)

    def set_state(self, key: str, value: str | None) -> None:
        self._d.writer.set_state(key, value)

    def save_state(self, key: str, value: str) -> None:
        """Set a state entry and wait until it is committed (for a page that reads it back)."""
        sql = (
            "INSERT INTO state(key, value, updated_ts) VALUES (?, ?, 0) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
        self._d.writer.call(lambda conn: conn.execute(sql, (key, value)))

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the store, still encrypted with the store key."""
        from box.store.backup import backup

        backup(self.home.database_file, self._d.keys.get(STORE_KEY), target)

    def request_stop(self, reason: str) -> None:
        """An orderly stop, as SIGTERM would (the main loop stops everything in order)."""
        log.warning("stopping: %s", reason)
        self._d.request_stop()

    def _on_core(self, fn: Callable[[], T]) -> T:
        return self._d.pipeline.call(fn)


if TYPE_CHECKING:
    # The facade is what the web app and the downlink are given: checked here, statically.
    def _ports(facade: BoxFacade) -> tuple[WebBox, DownlinkBox]:
        return facade, facade
