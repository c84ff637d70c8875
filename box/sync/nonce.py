"""GCM nonces that never repeat for a key: a boot counter (4 bytes) and a message counter
(8 bytes). The boot counter is incremented and committed to the store before the first seal of
each run, so a restart (or a crash) can never reuse a (boot, counter) pair. Restoring the store
from an old backup would roll the counter back: rotate the sync key after such a restore."""

from __future__ import annotations

import struct
import threading

_NONCE = struct.Struct(">IQ")


class NonceSource:
    def __init__(self, boot: int) -> None:
        if not 0 < boot < 2**32:
            raise ValueError(f"boot counter {boot} out of range")
        self.boot = boot
        self._counter = 0
        self._lock = threading.Lock()

    def next(self) -> bytes:
        with self._lock:
            self._counter += 1
            return _NONCE.pack(self.boot, self._counter)
