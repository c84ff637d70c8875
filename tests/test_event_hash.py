"""The event hash chain in its language-neutral form (JCS, hash version 2), the published test
vectors, and stores written with the legacy recipe (version 1) that must keep verifying."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from box.core.records import Event
from box.store.audit import audit_events
from box.store.config import StoreSection
from box.store.database import connect
from box.store.events import GENESIS_HASH, canonical_details, event_hash, verify_chain
from box.store.writer import StoreWriter

KEY = bytes(range(32))
VECTORS = Path(__file__).resolve().parent.parent / "docs" / "vectors" / "event_chain.json"


def _write(db: Path, events: list[Event]) -> None:
    w = StoreWriter(db, KEY, StoreSection())
    w.start()
    for e in events:
        w.submit_event(e)
    assert w.flush()
    w.stop()


def test_the_hash_is_recomputable_from_the_event_as_sent_without_python_json(
    tmp_path: Path,
) -> None:
    """Floats, non-ASCII text and nesting: recomputed from the parsed details with JCS alone."""
    db = tmp_path / "b.db"
    details = {"value": 0.1 + 0.2, "big": 1e21, "text": "\u00e9\u2028", "n": [1, 2.5, None]}
    _write(db, [Event("test", "tests", 1_700_000_000_000, 2, details)])
    conn = connect(db, KEY, readonly=True)
    seq, ts, kind, level, source, stored, prev, h = conn.execute(
        "SELECT seq, ts, kind, level, source, details, prev_hash, hash FROM events"
    ).fetchone()
    conn.close()
    sent = {  # what the feed carries: details re-parsed, as any consumer holds them
        "seq": seq, "ts": ts, "kind": kind, "level": level, "source": source,
        "details": json.loads(stored), "prev_hash": prev,
    }  # fmt: skip
    assert prev == GENESIS_HASH
    assert hashlib.sha256(rfc8785.dumps(sent)).hexdigest() == h


def test_details_that_json_cannot_carry_are_stored_as_valid_json() -> None:
    text = canonical_details(
        {"nan": float("nan"), "inf": float("inf"), "huge": 2**64, "p": Path("/x")}
    )
    assert json.loads(text) == {"huge": str(2**64), "inf": None, "nan": None, "p": "/x"}


def test_every_published_chain_vector_matches_the_code() -> None:
    vectors = json.loads(VECTORS.read_text())
    prev = vectors["genesis"]
    assert prev == GENESIS_HASH
    rows = []
    for ev in vectors["events"]:
        assert ev["prev_hash"] == prev
        assert rfc8785.dumps({k: ev[k] for k in ev if k not in ("hash", "hash_v", "hashed")}) == (
            ev["hashed"].encode()
        )
        assert hashlib.sha256(ev["hashed"].encode()).hexdigest() == ev["hash"]
        details = canonical_details(ev["details"])
        args = (ev["seq"], ev["ts"], ev["kind"], ev["level"], ev["source"], details)
        assert event_hash(prev, *args) == ev["hash"]
        rows.append((*args, prev, ev["hash"], 2))
        prev = ev["hash"]
    assert verify_chain(rows).ok


def test_a_store_written_with_the_legacy_recipe_still_verifies_and_continues(
    tmp_path: Path,
) -> None:
    """Rows from before the switch keep hash version 1; new rows chain on with version 2."""
    db = tmp_path / "b.db"
    _write(db, [])
    conn = connect(db, KEY)
    prev = GENESIS_HASH
    for seq in (1, 2, 3):  # as the previous writer stored them (no hash_v: the default 1)
        details = json.dumps({"i": seq, "x": 0.1}, sort_keys=True, separators=(",", ":"))
        h = event_hash(prev, seq, 1000 + seq, "old", 0, "tests", details, hash_v=1)
        conn.execute(
            "INSERT INTO events(seq, ts, kind, level, source, details, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (seq, 1000 + seq, "old", 0, "tests", details, prev, h),
        )
        prev = h
    conn.close()
    _write(db, [Event("new", "tests", 2000, 0, {"x": 0.1})])
    conn = connect(db, KEY)
    assert [v for (v,) in conn.execute("SELECT hash_v FROM events ORDER BY seq")] == [1, 1, 1, 2]
    assert conn.execute("SELECT prev_hash FROM events WHERE seq = 4").fetchone()[0] == prev
    assert audit_events(conn).ok
    # A legacy row is still protected: altering it breaks the chain there.
    conn.execute("UPDATE events SET details = '{\"i\":9}' WHERE seq = 2")
    report = audit_events(conn)
    conn.close()
    assert not report.ok and report.broken_seq == 2


@pytest.mark.parametrize("hash_v", [0, 3])
def test_an_unknown_hash_version_is_a_broken_chain_not_a_crash(hash_v: int) -> None:
    row = (1, 1, "k", 0, "s", "{}", GENESIS_HASH, "0" * 64, hash_v)
    report = verify_chain([row])
    assert not report.ok and "unknown event hash version" in report.reason


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_the_fast_canonical_form_is_exactly_rfc8785(value: object) -> None:
    """jcs() takes Python's C encoder where it writes the same text: never a different byte."""
    from box.store.events import jcs, json_safe

    text = jcs(value)
    assert text.encode() == rfc8785.dumps(json_safe(value))
    assert jcs(json.loads(text)) == text, "stored, parsed and canonicalised again: the same"


@pytest.mark.parametrize(
    "value", [1e-5, 1e-7, 1e21, 2.0**60, -0.0, 5e-324, {"\U0001f600": 1, "\ufb01": 2}, "\ud800"]
)
def test_the_awkward_cases_of_the_fast_path(value: object) -> None:
    from box.store.events import jcs, json_safe

    assert jcs(value).encode() == rfc8785.dumps(json_safe(value))
