"""GCM nonces that never repeat for a key: a boot counter (4 bytes) and a message counter
(8 bytes). The boot counter is incremented and made durable before the first seal of each run,
so a restart, a crash or a power cut can never reuse a (boot, counter) pair.

Durable means fsynced: the store commits with ``synchronous = normal``, which a power cut (not a
crash) can undo, so the counter also lives in its own small file written with fsync of the file
and its folder (:func:`next_boot`); the next boot takes the larger of the two. Restoring the store
from an old backup keeps the file's count, but rotate the sync key after a restore anyway."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

from box.atomic import write_atomic

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


def next_boot(counter_file: Path, stored: int) -> int:
    """This run's boot number, fsynced to ``counter_file`` before it is returned: one more than
    both the file's and ``stored`` (the store's copy)."""
    try:
        on_file = int(counter_file.read_text(encoding="ascii").strip() or 0)
    except FileNotFoundError:
        on_file = 0
    except (OSError, ValueError) as exc:
        # A damaged counter must not be taken as 0 (that would reuse nonces): refuse to seal.
        raise RuntimeError(f"cannot read the boot counter {counter_file}: {exc}") from None
    boot = max(on_file, stored) + 1
    write_atomic(counter_file, f"{boot}\n", 0o600)  # fsyncs the file and its folder
    return boot
