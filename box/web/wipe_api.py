"""``POST /api/wipe`` (admin): announce a data destruction, send it upstream, stop the box.

The destruction itself (``safetybox wipe``) happens after the daemon has stopped, so no thread
still holds the keys' store open. Before that, the box records a ``data_destruction`` event and
waits (bounded) until the sync has delivered it: the platform learns of the wipe before the
keys that would let anyone read the box's history are gone.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify

from box.core.levels import Level
from box.core.records import Event, now_ms
from box.web.auth import body, require_role, who
from box.web.port import current_box
from box.wipe import mark

bp = Blueprint("wipe_api", __name__)
MAX_WAIT_S = 120.0


def _committed_seq(started_ms: int, deadline: float) -> int | None:
    reader = current_box().reader
    while time.monotonic() < deadline:
        row = reader.execute(
            "SELECT max(seq) FROM events WHERE kind = 'data_destruction' AND ts >= ?",
            (started_ms,),
        ).fetchone()
        if row and row[0] is not None:
            return int(row[0])
        time.sleep(0.05)
    return None


def _upstream(seq: int | None, deadline: float) -> str:
    """How far the announcement got: "delivered", or why not."""
    if seq is None:
        return "not delivered: the event was not committed in time"
    while True:
        sync = current_box().snapshot().get("sync", {})
        if not sync.get("enabled", True) or "cursors" not in sync:
            return "not delivered: sync is disabled"
        if sync["cursors"]["events"] >= seq:
            return "delivered"
        if time.monotonic() >= deadline:
            error = sync.get("last_error") or "no acknowledgement from the broker"
            return f"not delivered ({error}): the platform learns of it never"
        time.sleep(0.1)


@bp.post("/api/wipe")
@require_role("admin")
def announce() -> Any:
    data = body()
    box = current_box()
    if data.get("confirm") != box.box_id:
        return jsonify(error=f'send {{"confirm": "<the box id>"}} to wipe box {box.box_id}'), 400
    wait = data.get("upstream_wait_s", 20)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT_S:
        return jsonify(error=f"upstream_wait_s must be a number from 0 to {MAX_WAIT_S:g}"), 400
    actor = who(data)
    started = now_ms()
    deadline = time.monotonic() + max(float(wait), 2.0)
    box.submit_event(
        Event(
            "data_destruction",
            "daemon",
            started,
            Level.LEVEL_2,
            {"who": actor, "what": "all keys (crypto-shredding): store, backups, sync"},
        )
    )
    upstream = _upstream(_committed_seq(started, deadline), deadline)
    mark(box.home, actor)  # from here on the daemon refuses to start
    box.request_stop(f"wipe requested by {actor}")
    return jsonify(announced=True, upstream=upstream, stopping=True)
