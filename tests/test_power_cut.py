"""A power cut, not a crash: only what was fsynced survives. The boot counter behind the GCM
nonces must never go back, or the next boot would reuse (boot, counter) nonces under one key."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from box.config.loader import parse_config
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.store.writer import StoreWriter
from box.sync.keyring import SyncKeyring
from box.sync.service import SyncService
from tests.conftest import run_cli


class DurableView:
    """Records what os.fsync made durable: a file's bytes at its last fsync, and a folder's
    names (name -> inode) at its last fsync. A name survives a power cut only if the folder
    was fsynced with it, and then with the content its inode had at its own last fsync."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.content: dict[int, bytes] = {}
        self.names: dict[str, dict[str, int]] = {}
        real = os.fsync

        def fsync(fd: Any) -> None:
            fd = fd if isinstance(fd, int) else fd.fileno()
            real(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
            st = os.fstat(fd)
            if os.path.isdir(path):
                names = os.listdir(path)
                self.names[path] = {n: os.stat(os.path.join(path, n)).st_ino for n in names}
            else:
                with open(path, "rb") as f:
                    self.content[st.st_ino] = f.read()

        monkeypatch.setattr(os, "fsync", fsync)

    def after_power_cut(self, path: Path) -> bytes | None:
        ino = self.names.get(str(path.parent), {}).get(path.name)
        return None if ino is None else self.content.get(ino)


CONFIG = 'config_version = 1\n[sync]\nenabled = true\nhost = "127.0.0.1"\nport = 1\n'


def _sync_boot(bh: BoxHome) -> int:
    key = FileKeyProvider(bh.keys_dir).get("store")
    config = parse_config(CONFIG)
    writer = StoreWriter(bh.database_file, key, config.store)
    writer.start()
    service = SyncService(
        config, "sb-x", bh.database_file, key, SyncKeyring(FileKeyProvider(bh.keys_dir)), writer
    )
    boot = service.nonces.boot
    service.conn.close()
    writer.stop()
    return boot


def test_the_boot_counter_survives_a_power_cut_that_loses_unsynced_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "box"
    run_cli(home, "init")
    bh = BoxHome.under(home)
    first = _sync_boot(bh)  # the store exists, with boot 1
    data = bh.data_dir
    # What is on the card before the next boot: the store as the last run left it durable.
    durable_store = tmp_path / "durable"
    shutil.copytree(data, durable_store)
    view = DurableView(monkeypatch)
    second = _sync_boot(bh)
    assert second > first
    # Power cut: the store's commits of that boot were not fsynced (synchronous = normal), so
    # the card holds the store from before it; our own files hold what fsync made durable.
    shutil.rmtree(data)
    shutil.copytree(durable_store, data)
    for name in os.listdir(data):
        if not name.startswith("box.db"):
            (data / name).unlink()
            if (kept := view.after_power_cut(data / name)) is not None:
                (data / name).write_bytes(kept)
    third = _sync_boot(bh)
    assert third > second, "a boot number was reused after a power cut: GCM nonces would repeat"
