"""The live feed of positions for push channels (the site map's server-sent events).

The positioning rules note each tag's newest position as batches arrive and flush the changes
on the engine's tick (every 100 ms): at most ten messages a second whatever the update rate,
each with only the tags that moved. Subscribers are called on the core thread and must not
block (put the message on a queue); one that raises is dropped and logged, never the alarms.
Nothing is collected while nobody subscribes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Message = dict[str, Any]


class LiveFeed:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[Message], None]] = []
        self._lock = threading.Lock()
        self.pending: dict[str, dict[str, Any]] = {}

    @property
    def active(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self, fn: Callable[[Message], None]) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        with self._lock:
            self._subscribers = [*self._subscribers, fn]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not fn]

        return unsubscribe

    def note(self, tag: str, entry: dict[str, Any]) -> None:
        self.pending[tag] = entry

    def flush(self, plan: str, ts: float) -> None:
        if not self.pending:
            return
        message = {"type": "positions", "plan": plan, "ts": ts, "tags": self.pending}
        self.pending = {}
        for fn in self._subscribers:
            try:
                fn(message)
            except Exception:  # noqa: BLE001 - a broken subscriber must not stop the core
                log.exception("live position subscriber failed: dropped")
                with self._lock:
                    self._subscribers = [s for s in self._subscribers if s is not fn]


FEED = LiveFeed()
"""The process's feed: the daemon has one positioning engine, the web app one push channel."""
