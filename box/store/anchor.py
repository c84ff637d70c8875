"""The events chain's checkpoint: where the chain starts and ends, and how many rows it has,
sealed with a key derived from the store key and kept in its own table (``chain_anchor``).

The hash chain alone proves that no row in the middle was changed, removed or inserted, but
not that the first or the last rows are still there: a chain that starts at seq 40 with no
gap event, or ends 20 rows early, still verifies link by link. The writer updates the anchor in
the same transaction as every event it appends and every eviction, so a committed event and its
anchor never disagree; :func:`box.store.audit.audit_events` compares the rows with it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from box.store.events import GENESIS_HASH

if TYPE_CHECKING:
    import sqlite3  # only named in hints: the store is sqlcipher3

_LABEL = b"safetybox events chain anchor v1"


def anchor_key(store_key: bytes) -> bytes:
    """A key for the anchor only (the store key itself never signs anything)."""
    return hmac.new(store_key, _LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Anchor:
    first_seq: int  # 0 while the chain is empty
    first_prev: str  # prev_hash of the first remaining row (genesis, or the last evicted)
    last_seq: int
    last_hash: str
    count: int

    def mac(self, key: bytes) -> str:
        msg = f"{self.first_seq}|{self.first_prev}|{self.last_seq}|{self.last_hash}|{self.count}"
        return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()

    def appended(self, last_seq: int, last_hash: str, added: int) -> Anchor:
        first = self.first_seq or last_seq - added + 1
        first_prev = self.first_prev if self.first_seq else (self.first_prev or GENESIS_HASH)
        return Anchor(first, first_prev, last_seq, last_hash, self.count + added)

    def evicted(self, up_to_seq: int, its_hash: str, removed: int) -> Anchor:
        return Anchor(up_to_seq + 1, its_hash, self.last_seq, self.last_hash, self.count - removed)


EMPTY = Anchor(0, GENESIS_HASH, 0, GENESIS_HASH, 0)


def read(conn: sqlite3.Connection, key: bytes) -> tuple[Anchor | None, bool]:
    """The stored anchor (None if there is none) and whether its seal is valid."""
    row = conn.execute(
        "SELECT first_seq, first_prev, last_seq, last_hash, count, mac FROM chain_anchor "
        "WHERE id = 1"
    ).fetchone()
    if row is None:
        return None, False
    anchor = Anchor(int(row[0]), str(row[1]), int(row[2]), str(row[3]), int(row[4]))
    return anchor, hmac.compare_digest(anchor.mac(key), row[5] or "")


def write(conn: sqlite3.Connection, anchor: Anchor, key: bytes) -> None:
    """Inside the caller's transaction."""
    conn.execute(
        "INSERT INTO chain_anchor(id, first_seq, first_prev, last_seq, last_hash, count, mac) "
        "VALUES (1,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET first_seq = excluded.first_seq, "
        "first_prev = excluded.first_prev, last_seq = excluded.last_seq, "
        "last_hash = excluded.last_hash, count = excluded.count, mac = excluded.mac",
        (
            anchor.first_seq,
            anchor.first_prev,
            anchor.last_seq,
            anchor.last_hash,
            anchor.count,
            anchor.mac(key),
        ),
    )


def from_rows(conn: sqlite3.Connection) -> Anchor:
    """What the rows say now: to anchor a store that predates anchors (trust on first use)."""
    row = conn.execute(
        "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events), "
        "(SELECT count(*) FROM events)"
    ).fetchone()
    first, last, count = row
    if first is None:
        return EMPTY
    (first_prev,) = conn.execute("SELECT prev_hash FROM events WHERE seq = ?", (first,)).fetchone()
    (last_hash,) = conn.execute("SELECT hash FROM events WHERE seq = ?", (last,)).fetchone()
    return Anchor(first, first_prev, last, last_hash, count)
