"""Audit events for what people do on the web page and the API (hash-chained like all events)."""

from __future__ import annotations

from typing import Any

from flask import request

from box.core.levels import Level
from box.core.records import Event, now_ms
from box.web.port import current_box


def audit(kind: str, level: int = Level.INFO, **details: Any) -> None:
    """Store ``kind`` with ``details`` and the client's address."""
    details.setdefault("ip", request.remote_addr)
    current_box().submit_event(Event(kind, "web", now_ms(), level, details))
