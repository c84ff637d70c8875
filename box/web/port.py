"""What the web app needs of the box: the core's ports plus the few things a page serves
(accounts, the store's read side, the box home's files). ``create_app`` takes one of these
(the running box's facade, or a test double), never the daemon."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flask import current_app

from box.core.ports import BoxApi, Commands
from box.core.records import Event

if TYPE_CHECKING:
    from box.config.schema import BoxConfigBase
    from box.paths import BoxHome
    from box.web.accounts import Accounts
    from drivers.base import DriverRegistry


class WebBox(BoxApi, Commands, Protocol):
    @property
    def home(self) -> BoxHome: ...
    @property
    def config(self) -> BoxConfigBase: ...
    @property
    def registry(self) -> DriverRegistry: ...
    @property
    def api_token(self) -> str: ...
    @property
    def https(self) -> bool: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def reader(self) -> sqlite3.Connection: ...
    def submit_event(self, event: Event) -> None: ...
    def save_state(self, key: str, value: str) -> None: ...
    def backup_to(self, target: Path) -> None: ...
    def request_stop(self, reason: str) -> None: ...


def current_box() -> WebBox:
    """The box this app was created for."""
    box: WebBox = current_app.config["BOX"]
    return box
