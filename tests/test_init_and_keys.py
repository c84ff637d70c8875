"""``safetybox init``: box id, three keys in 0600 files, never overwritten; bad keys refused."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from box.core.errors import KeyFileError
from box.keys import FileKeyProvider
from tests.conftest import run_cli


def test_init_creates_config_id_and_private_keys(tmp_path: Path) -> None:
    home = tmp_path / "h"
    result = run_cli(home, "init", "--json")
    info = json.loads(result.output)
    assert info["box_id"].startswith("sb-")
    assert all(info["created"].values())
    for name in ("store", "sync", "downlink", "api"):
        path = home / "keys" / f"{name}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(bytes.fromhex(path.read_text().strip())) == 32
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    names = ("store", "sync", "downlink", "api")
    keys = {n: (home / "keys" / f"{n}.key").read_text() for n in names}
    assert len(set(keys.values())) == 4, "each key must be independent"
    run_cli(None, "--home", str(home), "config", "check")


def test_reinit_never_overwrites(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init", "--demo")
    before = {
        p.name: p.read_bytes() for p in [*home.glob("keys/*"), home / "box_id", home / "box.toml"]
    }
    result = run_cli(home, "init", "--json")
    assert not any(json.loads(result.output)["created"].values())
    after = {
        p.name: p.read_bytes() for p in [*home.glob("keys/*"), home / "box_id", home / "box.toml"]
    }
    assert before == after


def test_init_refuses_group_readable_key(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    os.chmod(home / "keys" / "store.key", 0o640)
    result = run_cli(home, "init", check=False)
    assert result.exit_code == 1
    assert "accessible by group or others (mode 640)" in result.output
    assert f"chmod 600 {home / 'keys' / 'store.key'}" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [("zz\n", "not hex encoded"), ("abcd\n", "holds 2 bytes, expected 32")],
)
def test_malformed_key_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    keys = FileKeyProvider(tmp_path)
    path = keys.path("store")
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match=message):
        keys.get("store")


def test_missing_key_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing: run 'safetybox init'"):
        FileKeyProvider(tmp_path).get("store")
