"""Per record type upstream policy: positions all, downsampled per tag, or kept on the box."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from box.config.loader import ConfigInvalid, parse_config
from box.core.records import Position, Snapshot, now_ms
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.database import connect
from box.store.writer import StoreWriter
from box.sync.outbox import Outbox
from tests.conftest import run_cli
from tests.test_uplink_batching import CHANNEL


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[BoxHome, StoreWriter]]:
    home = tmp_path / "box"
    run_cli(home, "init")
    bh = BoxHome.under(home)
    key = FileKeyProvider(bh.keys_dir).get("store")
    writer = StoreWriter(bh.database_file, key, parse_config("config_version = 1\n").store)
    writer.start()
    yield bh, writer
    writer.stop()


def _outbox(bh: BoxHome, policy: str) -> Outbox:
    config = parse_config(f"config_version = 1\n[sync]\n{policy}\n" + CHANNEL)
    conn = connect(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), readonly=True)
    return Outbox(conn, config, "box-1", Outbox.load_cursors({}))


def _walk(writer: StoreWriter, ts: int) -> None:
    """Two tags, a position each second for 10 s."""
    writer.submit_records(
        [Position(tag, ts + i * 1000, float(i), 0.0) for i in range(10) for tag in ("t1", "t2")]
    )
    assert writer.flush()


def _sent(outbox: Outbox, now: float) -> list[tuple[str, int]]:
    out = []
    while (batch := outbox.next_batch(now)) is not None:
        out += [(r[3], r[2]) for r in batch.payload["records"]]
        outbox.acknowledged(batch)
    return out


def test_positions_go_all_downsampled_per_tag_or_not_at_all(
    store: tuple[BoxHome, StoreWriter],
) -> None:
    bh, writer = store
    ts = now_ms()
    _walk(writer, ts)
    now = ts / 1000 + 60
    assert len(_sent(_outbox(bh, ""), now)) == 20, "the default: every stored position"
    thin = _sent(_outbox(bh, 'record_policy = { position = { upstream = "downsampled", '
                             "every_s = 4 } }"), now)  # fmt: skip
    assert sorted(thin) == sorted(
        (tag, ts + s * 1000) for tag in ("t1", "t2") for s in (0, 4, 8)
    ), "one per tag every 4 s, each tag on its own clock"
    withheld = _outbox(bh, 'record_policy = { position = { upstream = "none" } }')
    batch = withheld.next_batch(now)
    assert batch is not None and batch.payload["records"] == [] and batch.rows == 0
    assert (batch.first, batch.last) == (1, 20), "the range is covered: no hole upstream"


def test_an_unacknowledged_batch_does_not_advance_the_downsampling(
    store: tuple[BoxHome, StoreWriter],
) -> None:
    bh, writer = store
    ts = now_ms()
    _walk(writer, ts)
    outbox = _outbox(bh, 'record_policy = { position = { upstream = "downsampled", every_s = 4 } }')
    first = outbox.next_batch(ts / 1000 + 60)
    again = outbox.next_batch(ts / 1000 + 60)  # the first was never acknowledged: sent again
    assert first is not None and again is not None
    assert first.payload["records"] == again.payload["records"]


def test_a_bad_policy_is_refused_by_name() -> None:
    with pytest.raises(ConfigInvalid, match="record_policy"):
        parse_config(
            'config_version = 1\n[sync]\nrecord_policy = { position = { upstream = "some" } }\n'
        )


def test_snapshots_go_upstream_as_thumbnails_when_the_policy_says_so(
    store: tuple[BoxHome, StoreWriter],
) -> None:
    bh, writer = store
    ts = now_ms()
    writer.submit_records(
        [Snapshot("gate", ts, "r1", "gate.intrusion", "A" * 40_000, 640, 360, "person", "B" * 900)]
    )
    assert writer.flush()
    whole = _sent_data(_outbox(bh, ""), ts / 1000 + 60)
    assert whole[0]["jpeg_b64"] == "A" * 40_000
    small = _sent_data(
        _outbox(bh, 'record_policy = { snapshot = { upstream = "thumbnail" } }'), ts / 1000 + 60
    )
    assert "jpeg_b64" not in small[0] and small[0]["thumb_b64"] == "B" * 900
    assert small[0]["labels"] == "person" and small[0]["channel"] == "gate.intrusion"


def _sent_data(outbox: Outbox, now: float) -> list[dict]:
    batch = outbox.next_batch(now)
    assert batch is not None
    return [r[4] for r in batch.payload["records"]]
