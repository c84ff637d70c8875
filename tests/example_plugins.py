"""Third-party plug-ins as another package would ship them (loaded through entry points in the
tests): a CLI command group, and more below as the core grows kinds."""

from __future__ import annotations

import click


@click.group(name="hello")
def hello() -> None:
    """An example plug-in command group."""


@hello.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def world(as_json: bool) -> None:
    """Say hello."""
    click.echo('{"hello": "world"}' if as_json else "hello, world")


not_a_command = "just a string"
