"""Logins the box remembers, so a session can be revoked.

The session cookie is signed but lives in the browser; on its own it would stay valid after
logout or a password change, and a copied cookie would keep working. So every login gets a
random session id recorded here with a stamp of the password it was opened with: logout drops
the id, a password change (on the page, the API or the CLI) changes the stamp, a removed
account has none. Kept in memory only: a restart of the box logs everybody out.
"""

from __future__ import annotations

import secrets
import threading
import time

MAX_SESSIONS = 512  # the oldest is dropped beyond this: a flood of logins cannot grow memory


class SessionRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, tuple[str, str, float]] = {}  # sid -> user, stamp, opened

    def open(self, user: str, stamp: str) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._live) >= MAX_SESSIONS:
                oldest = min(self._live, key=lambda s: self._live[s][2])
                del self._live[oldest]
            self._live[sid] = (user, stamp, time.monotonic())
        return sid

    def valid(self, sid: object, user: str, stamp: str) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            entry = self._live.get(sid)
        if entry is None:
            return False
        return secrets.compare_digest(entry[0], user) and secrets.compare_digest(entry[1], stamp)

    def close(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._live.pop(sid, None)

    def count(self, user: str) -> int:
        with self._lock:
            return sum(1 for name, _, _ in self._live.values() if name == user)
