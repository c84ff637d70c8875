"""A box for web tests without a daemon: implements :class:`box.web.port.WebBox` with plain
data, so the web app is built against the port, as any other box would be."""

from __future__ import annotations

from typing import Any

from box.config.schema import BoxConfigBase
from box.core.records import Event


class FakeBox:
    api_token = "t" * 64
    https = False
    box_id = "sb-x"
    accounts = None  # no store: every page that needs a login answers "log in"

    def __init__(self) -> None:
        self.config = BoxConfigBase()
        self.reloads: list[str] = []
        self.problems: list[str] = []
        self.events: list[Event] = []

    def snapshot(self) -> dict[str, Any]:
        return {"box_id": self.box_id, "channels": []}

    def alarm_summary(self) -> dict[str, Any]:
        return {"alarms": []}

    def health_problems(self) -> list[str]:
        return self.problems

    def driver_diagnostics(self) -> dict[str, dict[str, Any]]:
        return {}

    def reload(self, who: str) -> dict[str, Any]:
        self.reloads.append(who)
        return {"accepted": True, "errors": [], "changed": []}

    def submit_event(self, event: Event) -> None:
        self.events.append(event)
