"""``drivers list``: which drivers are installed, and which failed to import and why."""

from __future__ import annotations

import click

from box.cli.common import json_option, print_json
from drivers.base import default_registry


@click.group()
def drivers() -> None:
    """Installed drivers."""


@drivers.command(name="list")
@json_option
def list_drivers(as_json: bool) -> None:
    """List installed driver types (entry-point group safetybox.drivers)."""
    reg = default_registry()
    found = {k: f"{c.__module__}.{c.__name__}" for k, c in sorted(reg.drivers.items())}
    if as_json:
        print_json({"drivers": found, "failed": reg.failed})
        return
    for key, where in found.items():
        click.echo(f"{key:<12} {where}")
    for key, why in reg.failed.items():
        click.echo(f"{key:<12} FAILED TO IMPORT: {why}")


COMMANDS = [drivers]
