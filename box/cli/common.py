"""Shared CLI pieces: the context object and the ``--json`` option."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from box.paths import BoxHome

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    def __init__(self, home: str | None) -> None:
        self.home = BoxHome.resolve(home)


pass_box = click.make_pass_decorator(Context)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
