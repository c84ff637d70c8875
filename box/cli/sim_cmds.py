"""``sim ...``: simulators that stand in for devices and people on a demo or test site."""

from __future__ import annotations

import click

from box.cli.common import Context, pass_box
from box.client import BoxClient


@click.group()
def sim() -> None:
    """Simulators for demos and tests."""


@sim.command()
@click.option(
    "--ack-after",
    type=click.FloatRange(0, 3600),
    default=20.0,
    show_default=True,
    help="Seconds before a new alarm is acknowledged.",
)
@click.option(
    "--stop-after",
    type=click.FloatRange(1, None),
    default=None,
    help="Stop after this many seconds (default: run until stopped).",
)
@pass_box
def operator(box: Context, ack_after: float, stop_after: float | None) -> None:
    """A scripted operator: acknowledges alarms after a delay, resets latched ones when clear.

    \b
    Example (what make demo runs beside the box):
      safetybox --home .demo sim operator --ack-after 20
    """
    from sim.operator import DemoOperator

    click.echo(f"demo operator: acknowledging alarms {ack_after:g} s after they appear")
    DemoOperator(BoxClient(box.home), ack_after, click.echo).run(stop_after)


COMMANDS = [sim]
