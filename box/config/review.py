"""Check, diff and save a proposed ``box.toml``: the steps every config editor shares (the web
page's editor and forms, and the JSON API)."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from box.atomic import write_atomic
from box.config.changes import digest
from box.config.loader import ConfigInvalid, ConfigIssue, parse_config
from box.core.errors import ConfigError

if TYPE_CHECKING:
    from box.paths import BoxHome
    from drivers.base import DriverRegistry

_save_lock = threading.Lock()


def running_text(home: BoxHome) -> str:
    """The box.toml the box runs from (or will run at its next start)."""
    return home.config_file.read_text(encoding="utf-8")


def saved_configs(home: BoxHome, keep: int = 20) -> list[str]:
    """Names of the earlier accepted configs that can be restored, newest first."""
    folder = home.config_history_dir
    return sorted((p.name for p in folder.glob("box-*.toml")), reverse=True)[:keep]


def check(
    text: str, registry: DriverRegistry | None = None, context: dict[str, Any] | None = None
) -> list[ConfigIssue]:
    """Every problem with ``text``; empty when it is a valid config."""
    try:
        parse_config(text, "box.toml", registry, context=context)
    except ConfigInvalid as exc:
        return exc.issues
    except ConfigError as exc:
        return [ConfigIssue((), None, str(exc))]
    return []


def unified_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), "box.toml (running)", "box.toml (new)"
    )
    return "".join(lines)


def issue_json(issue: ConfigIssue) -> dict[str, Any]:
    return {
        "path": list(issue.path),
        "field": issue.dotted,
        "line": issue.line,
        "value": issue.shown_value,
        "reason": issue.reason,
    }


class StaleBase(ConfigError):
    """The file changed since the editor loaded it."""


def save(
    path: Path,
    text: str,
    base: str,
    reload: Callable[[], dict[str, Any]],
    registry: DriverRegistry | None = None,
) -> dict[str, Any]:
    """Validate, write atomically and reload, one editor at a time. ``base`` (the digest of
    the text the editor started from) refuses to overwrite someone else's change."""
    with _save_lock:
        if base != digest(path.read_text(encoding="utf-8")):
            raise StaleBase("box.toml changed since you loaded it: load it again")
        issues = check(text, registry)
        if issues:
            raise ConfigInvalid("box.toml", issues)
        write_atomic(path, text, mode=0o640)
        return reload()
