"""Holes that do not fill: ask the box to send the range again (``resend``, docs/MQTT.md).

A batch past a hole waits for the hole to fill (reordering, a worker's redelivery). A hole
still open after ``older_than_s`` was lost between box and platform (a broker that lost its
queue, a worker session that expired): the box still has the rows, or answers with an
``evicted`` batch naming them, which then becomes a gap row. Workers may all run this; an
advisory lock lets one at a time do it, and a hole is asked for again only after
``older_than_s`` more.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from ingest import commands
from ingest.brokers import BrokerAddress
from ingest.tracker import SeqState

log = logging.getLogger(__name__)

LOCK_ID = 0x5AFE3
RESENDABLE = ("events", "readings")  # the streams the box's resend command covers


def due(conn: psycopg.Connection, older_than_s: float) -> list[tuple[str, str, int, int]]:
    """(box, stream, first, last) of holes open longer than ``older_than_s``."""
    rows = conn.execute(
        "SELECT box_id, stream, covered, ahead FROM stream_state"
        " WHERE holes_since < now() - make_interval(secs => %s)"
        " AND (resend_at IS NULL OR resend_at < now() - make_interval(secs => %s))"
        " AND stream = ANY(%s) ORDER BY box_id, stream",
        (older_than_s, older_than_s, list(RESENDABLE)),
    ).fetchall()
    out = []
    for box, stream, covered, ahead in rows:
        st = SeqState(covered, [tuple(x) for x in ahead])  # type: ignore[misc]
        out += [(box, stream, f, t) for f, t in st.holes()]
    return out


def request_resends(
    dsn: str, broker: BrokerAddress, older_than_s: float, dry_run: bool = False
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,)).fetchone()
        if not got or not got[0]:
            return sent  # another worker is at it
        try:
            for box, stream, first, last in due(conn, older_than_s):
                item = {"box": box, "stream": stream, "first": first, "last": last}
                if not dry_run:
                    commands.send(
                        dsn,
                        broker,
                        box,
                        "resend",
                        {"stream": stream, "first": first, "last": last},
                        "ingest:holes",
                    )
                    conn.execute(
                        "UPDATE stream_state SET resend_at = now()"
                        " WHERE box_id = %s AND stream = %s",
                        (box, stream),
                    )
                    log.warning("ingest: asked %s to resend %s %d..%d", box, stream, first, last)
                sent.append(item)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return sent
