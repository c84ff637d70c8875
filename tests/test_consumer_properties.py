"""The reference consumer under any delivery: batches shuffled, duplicated, overlapping (resends
cut differently), split, with evictions and a restart in the middle. It writes each row once,
reports as missing exactly what it never got, and as lost only what the box said is gone."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from box.sync.envelope import CipherId, Header, Stream, key_id_bytes, seal
from sim.upstream import Consumer

KEY = bytes(range(32))
BOX = "sb-prop"
PROV = {
    "box_id": BOX,
    "cipher": "aes-256-gcm",
    "sync_keys": [{"key_id": key_id_bytes(KEY).hex(), "key": KEY.hex(), "retired_at": None}],
    "downlink_key": "00" * 32,
}


def envelope(first: int, last: int, evicted_upto: int, historical: bool) -> bytes:
    """A readings batch of first..last as the box builds it: rows at or below evicted_upto
    were removed by retention before this batch was made."""
    payload: dict[str, Any] = {
        "v": 1, "box": BOX, "stream": "readings", "first": first, "last": last,
        "historical": historical, "sent_ms": 0, "aggregates": [], "channels": {},
    }  # fmt: skip
    start = min(max(first, evicted_upto + 1), last + 1)
    if start > first:
        payload["evicted"] = {"from": first, "to": start - 1, "count": start - first}
    payload["readings"] = [[s, "a", 1000 + s, float(s), "good"] for s in range(start, last + 1)]
    header = Header(
        CipherId.AES_256_GCM, 2 if historical else 0, Stream.READINGS, BOX, key_id_bytes(KEY),
        first, last, os.urandom(12),
    )  # fmt: skip
    return seal(header, json.dumps(payload).encode(), KEY)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int, bool]], int]:
    n = draw(st.integers(1, 60))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=8))) if n > 1 else []
    bounds = [0, *cuts, n]
    batches = [(a + 1, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    evicted = draw(st.integers(0, n // 3))  # what retention removed before the first send
    sent = [(a, b, evicted, False) for a, b in batches]
    # Resends: any sub-range, cut anew; retention may have advanced by then.
    for _ in range(draw(st.integers(0, 4))):
        a = draw(st.integers(1, n))
        b = draw(st.integers(a, n))
        sent.append((a, b, draw(st.integers(evicted, n)), True))
    sent += draw(st.lists(st.sampled_from(sent), max_size=5))  # broker redeliveries
    order = draw(st.permutations(sent))
    dropped = draw(st.sets(st.integers(0, len(order) - 1), max_size=3))  # never arrive
    restart_at = draw(st.integers(0, len(order)))
    return n, [b for i, b in enumerate(order) if i not in dropped], restart_at


def covered_by(batches: list[tuple[int, int, int, bool]]) -> set[int]:
    return {s for a, b, _, _ in batches for s in range(a, b + 1)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_every_row_once_and_only_real_gaps_whatever_the_delivery(
    case: tuple[int, list[tuple[int, int, int, bool]], int],
) -> None:
    n, order, restart_at = case
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "consumer.state"
        out = io.StringIO()
        consumer = Consumer(PROV, out=out, state_path=state)
        for i, (a, b, ev, hist) in enumerate(order):
            if i == restart_at:  # the consumer restarts: it continues from its state file
                consumer = Consumer(PROV, out=out, state_path=state)
            consumer.handle(envelope(a, b, ev, hist))
        rows = [json.loads(x) for x in out.getvalue().splitlines()]
    seqs = [r["seq"] for r in rows if r["stream"] == "readings" and "seq" in r]
    assert len(seqs) == len(set(seqs)), "a row written twice"
    got = covered_by(order)
    # Rows a batch carried are written unless every batch covering them had them evicted.
    carried = {s for a, b, ev, _ in order for s in range(min(max(a, ev + 1), b + 1), b + 1)}
    assert set(seqs) == carried
    top = max(got) if got else 0
    missing = {s for s in range(1, top + 1) if s not in got}
    reported = {s for a, b in consumer.holes().get("readings", []) for s in range(a, b + 1)}
    assert reported == missing, "missing = exactly the ranges never covered by any batch"
    lost = {s for a, b in consumer.lost().get("readings", []) for s in range(a, b + 1)}
    assert lost == got - carried, "lost = exactly what was evicted and never received"
    assert not (lost & set(seqs))


def test_a_batch_overlapping_what_was_received_adds_only_its_new_rows() -> None:
    """The issue's case: batches 3-4, 5, 6 then 1-6 give rows 3, 4, 5, 6, 1, 2."""
    out = io.StringIO()
    c = Consumer(PROV, out=out)
    for a, b in [(3, 4), (5, 5), (6, 6), (1, 6)]:
        c.handle(envelope(a, b, 0, False))
    seqs = [json.loads(x)["seq"] for x in out.getvalue().splitlines()]
    assert seqs == [3, 4, 5, 6, 1, 2]
    assert c.holes() == {} and c.duplicates == 4


def test_a_restarted_consumer_does_not_report_everything_before_as_a_hole(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    c = Consumer(PROV, out=io.StringIO(), state_path=state)
    c.handle(envelope(1, 10, 0, False))
    c = Consumer(PROV, out=io.StringIO(), state_path=state)
    c.handle(envelope(11, 20, 0, False))
    assert c.holes() == {} and c.streams["readings"].covered == 20
    assert c.client_id() == Consumer(PROV, state_path=state).client_id(), "same session"


def test_a_state_file_of_another_box_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    Consumer(PROV, out=io.StringIO(), state_path=state).save()
    import pytest

    with pytest.raises(ValueError, match="not a state of box sb-other"):
        Consumer({**PROV, "box_id": "sb-other"}, state_path=state)
