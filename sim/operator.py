"""A simulated operator for demos: acknowledges new alarms after a while, through the box's
HTTP API exactly as a person with the CLI would, and resets latched alarms once clear."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from box.client import BoxClient
from box.core.errors import BoxNotRunning

log = logging.getLogger(__name__)

WHO = "demo-operator"


class DemoOperator:
    def __init__(
        self, client: BoxClient, ack_after_s: float = 20.0, say: Callable[[str], None] = print
    ) -> None:
        self.client = client
        self.ack_after_s = ack_after_s
        self.say = say
        self.first_seen: dict[str, float] = {}

    def step(self, now: float) -> None:
        """Look once at the alarm list and act on what is due."""
        alarms = self.client.get("/api/alarms")["alarms"]
        for a in alarms:
            key = f"{a['id']}@{a['raised_at']}"
            if a["state"] in ("active_unack", "cleared_unack"):
                seen = self.first_seen.setdefault(key, now)
                if now - seen >= self.ack_after_s:
                    self._post(
                        f"/api/alarms/{a['id']}/ack",
                        "acknowledged",
                        a["id"],
                        note="scripted demo acknowledgement",
                    )
            elif a["state"] == "latched":
                self._post(f"/api/alarms/{a['id']}/reset", "reset", a["id"])

    def _post(self, path: str, verb: str, alarm_id: str, **data: str) -> None:
        code, result = self.client.post(path, {"who": WHO, **data})
        if code == 200:
            self.say(f"{WHO}: {verb} {alarm_id}")
        else:
            self.say(f"{WHO}: could not {verb[:-1]} {alarm_id}: {result.get('error')}")

    def run(self, stop_after_s: float | None = None, interval_s: float = 1.0) -> None:
        started = time.monotonic()
        while stop_after_s is None or time.monotonic() - started < stop_after_s:
            try:
                self.step(time.monotonic())
            except BoxNotRunning:
                pass  # the box is starting or restarting: try again shortly
            time.sleep(interval_s)
