"""Progress bars for long commands: on a terminal (stderr) only, silent in scripts and CI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import click


def on_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def phase_bar(label: str, phases: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """A bar over named phases; the operation calls ``step(name)`` as each one starts."""
    if not on_terminal():
        yield lambda _name: None
        return
    with click.progressbar(
        length=len(phases), label=label, file=sys.stderr, item_show_func=lambda n: n
    ) as bar:
        started: list[str] = []

        def step(name: str) -> None:
            bar.update(1 if started else 0, name)
            started.append(name)

        yield step
        bar.update(len(phases) - bar.pos, "done")


@contextmanager
def count_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A bar for ``progress(done, total)`` callbacks whose total is known only once started."""
    if not on_terminal():
        yield lambda _done, _total: None
        return
    with ExitStack() as stack:
        bars: list[Any] = []  # opened at the first call, when the total is known

        def progress(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        yield progress
