"""Shared CLI pieces: the context object and the ``--json`` option."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from box.paths import BoxHome

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    def __init__(self, home: str | None) -> None:
        self.home = BoxHome.resolve(home)


pass_box = click.make_pass_decorator(Context)


def force_option(func: F) -> F:
    return click.option("--force", is_flag=True, help="Overwrite the -o file if it exists.")(func)


def refuse_existing(path: Path, force: bool) -> None:
    """``-o FILE`` never replaces a file by surprise (an earlier export, someone's key file)."""
    if path.exists() and not force:
        raise click.ClickException(
            f"{path} exists: choose a new file name, or add --force to overwrite it"
        )


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log record, for log collectors (``safetybox run --json``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def json_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLogFormatter())


def json_line(**fields: Any) -> None:
    """One JSON object on one line (for commands that stream)."""
    click.echo(json.dumps(fields, ensure_ascii=False, default=str))


def report(as_json: bool, data: dict[str, Any], text: str) -> None:
    """The result of a command: ``data`` as JSON for scripts, or ``text`` for people."""
    if as_json:
        print_json(data)
    else:
        click.echo(text)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
