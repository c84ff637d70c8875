"""Setting up a box home as a library: the CLI's ``init``, the benches and provisioning use it.

``initialise`` creates what is missing (keys, box id, config, the first web account, the web
certificate) and never overwrites anything that exists.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from box.atomic import write_atomic
from box.config.template import render
from box.keys import API_TOKEN, STORE_KEY, SYNC_KEY, FileKeyProvider
from box.paths import BoxHome
from box.sync.keyring import DOWNLINK_KEY, SyncKeyring
from box.tls import default_paths, ensure_certificate, fingerprint


@dataclass
class InitReport:
    box_id: str
    sync_key_id: str
    created: dict[str, bool] = field(default_factory=dict)  # what this call made, by name
    admin_password: str | None = None  # only when the first account was made now
    certificate: Path = Path()
    certificate_sha256: str = ""


def initialise(home: BoxHome, demo: bool = False, name: str = "SafetyBox") -> InitReport:
    home.data_dir.mkdir(parents=True, exist_ok=True)
    keys = FileKeyProvider(home.keys_dir)
    created = {key: keys.create(key) for key in (STORE_KEY, SYNC_KEY, DOWNLINK_KEY, API_TOKEN)}
    created["box_id"] = not home.box_id_file.exists()
    if created["box_id"]:
        write_atomic(home.box_id_file, f"sb-{secrets.token_hex(6)}\n")
    created["config"] = not home.config_file.exists()
    if created["config"]:
        text = render(demo, name=name, home=str(home.config_file.parent))
        write_atomic(home.config_file, text, mode=0o640)
    password = _ensure_admin(home, keys)
    box_id = home.read_box_id()
    created["web_certificate"] = ensure_certificate(home.keys_dir, box_id)
    cert = default_paths(home.keys_dir)[0]
    return InitReport(
        box_id=box_id,
        sync_key_id=keys.key_id(SYNC_KEY),
        created=created,
        admin_password=password,
        certificate=cert,
        certificate_sha256=fingerprint(cert),
    )


def _ensure_admin(home: BoxHome, keys: FileKeyProvider) -> str | None:
    """Create the first web account (admin, random password) if the store has no user."""
    from box.instance import BoxRunning
    from box.store.config import StoreSection
    from box.store.database import connect
    from box.store.writer import StoreWriter
    from box.web.accounts import Accounts

    try:
        writer = StoreWriter(home.database_file, keys.get(STORE_KEY), StoreSection(), owner="init")
    except BoxRunning:
        return None  # a running box was initialised before: its accounts exist
    writer.start()
    reader = connect(home.database_file, keys.get(STORE_KEY), readonly=True)
    try:
        return Accounts(writer, reader).ensure_admin()
    finally:
        reader.close()
        writer.stop()


def provisioning_export(home: BoxHome) -> dict[str, Any]:
    """Box id, cipher and sync keys (with retired ones) for an upstream platform to import."""
    from box.config.loader import load_config

    cipher = load_config(home.config_file).sync.cipher
    return SyncKeyring(FileKeyProvider(home.keys_dir)).export(home.read_box_id(), cipher)
