"""The sync worker: takes the outbox's next batch, seals it, publishes it with QoS 1 and only
then advances the cursor. Runs in its own thread; the box works the same without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from box import __version__
from box.alarms.kinds import thresholds
from box.store.database import connect
from box.store.writer import StoreWriter
from box.sync.batching import idle_wait_s
from box.sync.config import SyncedConfig
from box.sync.envelope import (
    CIPHER_NAMES,
    FLAG_HISTORICAL,
    Header,
    Stream,
    key_id_bytes,
    seal,
)
from box.sync.keyring import SyncKeyring
from box.sync.nonce import NonceSource
from box.sync.outbox import Batch, Outbox
from box.sync.resend import STATE_RESEND, Resends
from box.sync.transport import Transport

log = logging.getLogger(__name__)

STATE_BOOT = "sync.boot"
# Longest sleep of an idle sync thread: it is woken by the writer's commits (batching.py), so
# this is only its heartbeat and a safety net, not how fast new rows leave.
HEARTBEAT_S = 1.0
UNACKED_WAIT_S = 0.05  # after a batch not acknowledged, before the next try
# While flushing, the outbox is asked as if this much later: no batch waits to fill up.
_FLUSH_AHEAD_S = 10 * 365 * 86400.0


class SyncService:
    def __init__(
        self,
        config: SyncedConfig,
        box_id: str,
        db_path: Path,
        store_key: bytes,
        keyring: SyncKeyring,
        writer: StoreWriter,
        on_command: Callable[[bytes], None] | None = None,
    ) -> None:
        self.config = config
        self.box_id = box_id
        self.keyring = keyring
        self.writer = writer
        self.conn = connect(db_path, store_key, readonly=True)
        # What a previous sync service of this run left queued (cursors, the downlink's seq and
        # nonces: a reload) is committed before it is read back.
        writer.flush(timeout=10)
        state = dict(self.conn.execute("SELECT key, value FROM state WHERE key LIKE 'sync.%'"))
        self.saved_state = state
        # A new boot number, committed before the first seal: nonces never repeat (nonce.py).
        boot = int(state.get(STATE_BOOT, 0)) + 1
        writer.set_state(STATE_BOOT, str(boot))
        if not writer.flush(timeout=30):
            raise RuntimeError("could not commit the sync boot counter; not sealing anything")
        self.nonces = NonceSource(boot)
        self.outbox = Outbox(self.conn, config, box_id, Outbox.load_cursors(state))
        self.outbox.resends = Resends(state.get(STATE_RESEND))  # a restart continues them
        self.transport = Transport(config.sync, box_id, self.birth, on_command)
        self.sent_batches = 0
        self.sent_rows = 0
        self.sent_bytes = 0
        self.heartbeat = time.monotonic()
        self._stop = threading.Event()
        # Set by the writer after each commit of rows, by the transport on connect, and by
        # stop and resend requests; the sync thread sleeps on it (box/sync/batching.py).
        self._wake = threading.Event()
        self.transport.on_connected = self._wake.set
        self.idle = threading.Event()  # set while connected with nothing left to send
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self.closing = False  # set by stop(): commands arriving now are refused, not half-run
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)

    def start(self) -> None:
        self.writer.add_commit_listener(self._wake.set)
        self.transport.start()
        self._thread.start()

    def stop(self, timeout: float = 10.0, flush_s: float | None = None) -> None:
        """Clean stop: send what is stored and pending (events first, batches not waiting to
        fill up) for at most ``flush_s`` (``sync.stop_flush_s``), then the retained ``offline``
        status, then disconnect. What is still unsent stays in the store for the next start."""
        flush_s = self.config.sync.stop_flush_s if flush_s is None else flush_s
        self.closing = True
        self._stop.set()
        self._wake.set()
        self.writer.remove_commit_listener(self._wake.set)
        self._thread.join(timeout)
        if flush_s > 0 and not self._thread.is_alive():
            try:
                self.flush(flush_s)
            except Exception:  # noqa: BLE001 - the stop goes on; rows stay for the next start
                log.exception("sync: flushing at stop failed")
        self.transport.stop()
        self.conn.close()

    def flush(self, seconds: float) -> int:
        """Send every batch that is ready now, not waiting for any to fill up, until the
        outbox is empty, the connection is lost or ``seconds`` have passed; returns batches."""
        deadline = time.monotonic() + seconds
        sent = 0
        while time.monotonic() < deadline and self.transport.connected.is_set():
            with self._db_lock:
                batch = self.outbox.next_batch(time.time() + _FLUSH_AHEAD_S)
            if batch is None or not self._send(batch, max(0.1, deadline - time.monotonic())):
                break
            sent += 1
        return sent

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def birth(self) -> dict[str, Any]:
        key_id, _ = self.keyring.current()
        chans = []
        for c in self.config.channels:
            th = thresholds.KIND.one(c)
            levels = [
                {"name": lv.name, "at": lv.at, "level": lv.level,
                 "direction": lv.direction or th.direction}
                for lv in th.levels
            ] if th is not None else []  # fmt: skip
            chans.append(
                {
                    "id": c.id,
                    "kind": c.kind,
                    "unit": c.unit,
                    "zone": c.zone,
                    "upstream": c.upstream,
                    "levels": levels,
                    "codes": c.codes,
                }
            )
        return {
            "state": "online",
            "box_id": self.box_id,
            "version": __version__,
            "key_id": key_id,
            "cipher": self.config.sync.cipher,
            "codes": self.config.sync.codes,
            "channels": chans,
            "ts": int(time.time() * 1000),
        }

    def status(self) -> dict[str, Any]:
        c = self.outbox.cursors
        with self._db_lock:  # the reader connection is shared with the sync thread
            head = self.conn.execute("SELECT coalesce(max(id), 0) FROM readings").fetchone()[0]
            last_event = self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        backfill = (c.backfill[1] - c.backfill[0] + 1) if c.backfill else 0
        return {
            "connected": self.transport.connected.is_set(),
            "last_error": self.transport.last_error,
            "connects": self.transport.connects,
            "backlog": {"events": last_event - c.events, "readings": head - c.readings + backfill},
            # For "wait until everything stored by now is sent" (safetybox sync wait).
            "head": {"events": last_event, "readings": head},
            "cursors": {
                "events": c.events,
                "readings": c.readings,
                "backfill": list(c.backfill) if c.backfill else None,
            },
            "resends": [r.as_list() for r in self.outbox.resends.ranges],
            "sent": {
                "batches": self.sent_batches,
                "rows": self.sent_rows,
                "bytes": self.sent_bytes,
            },
        }

    def seal_batch(
        self, stream: Stream, first: int, last: int, body: bytes, historical: bool = False
    ) -> bytes:
        key_id, key = self.keyring.current()
        header = Header(
            CIPHER_NAMES[self.config.sync.cipher],
            FLAG_HISTORICAL if historical else 0,
            stream,
            self.box_id,
            key_id_bytes(key),
            first,
            last,
            self.nonces.next(),
        )
        return seal(header, body, key)

    def request_resend(self, stream: str, first: int, last: int) -> dict[str, Any]:
        """Queue a range to send again (downlink ``resend``); returns what will actually go.
        Raises ResendRefused when too many ranges are pending."""
        with self._db_lock:
            plan = self.outbox.request_resend(stream, first, last)
            for key, value in self.outbox.resends.state().items():
                self.writer.set_state(key, value)
        self._wake.set()
        return plan

    def _run(self) -> None:
        cfg = self.config.sync
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            # Cleared before looking: a commit that lands meanwhile wakes the next wait at once.
            self._wake.clear()
            if not self.transport.connected.is_set():
                self._wake.wait(HEARTBEAT_S)
                continue
            try:
                with self._db_lock:
                    now = time.time()
                    batch = self.outbox.next_batch(now)
            except Exception:
                log.exception("sync: cannot read the outbox")
                self._stop.wait(1.0)
                continue
            if batch is None:
                self.idle.set()
                self._wake.wait(idle_wait_s(now, self.outbox.hold_until, HEARTBEAT_S))
                self.idle.clear()
                continue
            if not self._send(batch, cfg.ack_timeout_s):
                # Not acknowledged: the same rows go again once connected. A refusal while
                # still connected (paho refused it at once) must not turn into a tight loop.
                self._stop.wait(UNACKED_WAIT_S)

    def _send(self, batch: Batch, ack_timeout_s: float) -> bool:
        """Seal and publish one batch; advance its cursor once the broker acknowledged it."""
        cfg = self.config.sync
        envelope = self.seal_batch(
            batch.stream, batch.first, batch.last, batch.encode(), batch.historical
        )
        topic = f"{self.transport.topics['up']}/{batch.stream.name.lower()}"
        if not self.transport.publish_and_wait(topic, envelope, ack_timeout_s):
            return False
        with self._db_lock:  # resend requests arrive on the MQTT thread
            acked = self.outbox.acknowledged(batch)
        for key, value in acked.items():
            self.writer.set_state(key, value)
        self.sent_batches += 1
        self.sent_rows += batch.rows
        self.sent_bytes += len(envelope)
        if cfg.bandwidth_kbps:
            self._stop.wait(len(envelope) * 8 / (cfg.bandwidth_kbps * 1000))
        return True
