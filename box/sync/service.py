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
from box.sync.nonce import NonceSource, next_boot
from box.sync.outbox import Outbox
from box.sync.transport import Transport

log = logging.getLogger(__name__)

STATE_BOOT = "sync.boot"
BOOT_FILE = "sync-boot"  # beside the store: the fsynced copy of the boot counter
IDLE_WAIT_S = 0.2  # how often an idle outbox looks for new rows (level-1 alarms leave < 1 s)


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
        state = dict(self.conn.execute("SELECT key, value FROM state WHERE key LIKE 'sync.%'"))
        self.saved_state = state
        # A new boot number, fsynced before the first seal: nonces never repeat (nonce.py).
        boot = next_boot(db_path.parent / BOOT_FILE, int(state.get(STATE_BOOT, 0)))
        writer.set_state(STATE_BOOT, str(boot))
        if not writer.flush(timeout=30):
            raise RuntimeError("could not commit the sync boot counter; not sealing anything")
        self.nonces = NonceSource(boot)
        self.outbox = Outbox(self.conn, config, box_id, Outbox.load_cursors(state))
        self.transport = Transport(config.sync, box_id, self.birth, on_command)
        self.sent_batches = 0
        self.sent_rows = 0
        self.sent_bytes = 0
        self.heartbeat = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._resend: list[tuple[str, int, int]] = []
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)

    def start(self) -> None:
        self.transport.start()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.transport.stop()
        self.conn.close()

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

    def request_resend(self, stream: str, first: int, last: int) -> None:
        """Send a range again (downlink ``resend``); applied on the sync thread."""
        with self._lock:
            self._resend.append((stream, first, last))

    def _apply_resends(self) -> None:
        with self._lock:
            pending, self._resend = self._resend, []
        c = self.outbox.cursors
        for stream, first, last in pending:
            if stream == "events":
                c.events = min(c.events, first - 1)
            elif first <= c.readings:
                # Readings go again as a historical range; the live cursor stays where it is.
                end = min(last, c.readings)
                c.backfill = [
                    min(first, c.backfill[0]) if c.backfill else first,
                    max(end, c.backfill[1]) if c.backfill else end,
                ]

    def _run(self) -> None:
        cfg = self.config.sync
        up = self.transport.topics["up"]
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            if self._resend:
                self._apply_resends()
            if not self.transport.connected.wait(IDLE_WAIT_S):
                continue
            try:
                with self._db_lock:
                    batch = self.outbox.next_batch(time.time())
            except Exception:
                log.exception("sync: cannot read the outbox")
                self._stop.wait(1.0)
                continue
            if batch is None:
                self._stop.wait(IDLE_WAIT_S)
                continue
            envelope = self.seal_batch(
                batch.stream, batch.first, batch.last, batch.encode(), batch.historical
            )
            topic = f"{up}/{batch.stream.name.lower()}"
            if not self.transport.publish_and_wait(topic, envelope, cfg.ack_timeout_s):
                continue  # not acknowledged: the same rows go again once connected
            for key, value in self.outbox.acknowledged(batch).items():
                self.writer.set_state(key, value)
            self.sent_batches += 1
            self.sent_rows += batch.rows
            self.sent_bytes += len(envelope)
            if cfg.bandwidth_kbps:
                self._stop.wait(len(envelope) * 8 / (cfg.bandwidth_kbps * 1000))
