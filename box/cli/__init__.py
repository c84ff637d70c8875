"""The ``safetybox`` command: a click group over the library, for field technicians.

Library errors (:class:`box.core.errors.SafetyBoxError`) become one-line messages, never tracebacks.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from box import __version__
from box.cli.common import Context
from box.core import plugins
from box.core.errors import SafetyBoxError

SECTIONS = {
    "Set up and run": ["init", "run", "status", "doctor", "completion"],
    "Alarms": ["alarms"],
    "Configure": ["config", "drivers", "keys", "users"],
    "Field devices": ["sensors", "cameras"],
    "Upstream": ["sync", "consume"],
    "Data and audit": ["readings", "events", "people", "audit", "backup", "restore"],
    "Maintain": ["update", "wipe"],
    "Measure and simulate": ["bench", "sim"],
}


class SafetyBoxGroup(click.Group):
    """Lists commands grouped by task, and turns library errors into clean messages."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for title, names in SECTIONS.items():
            rows = []
            for name in names:
                cmd = self.get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(70)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        listed = {n for names in SECTIONS.values() for n in names}
        extra = [(n, c.get_short_help_str(70)) for n, c in self.commands.items() if n not in listed]
        if extra:
            with formatter.section("Plug-ins"):
                formatter.write_dl(sorted(extra))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SafetyBoxError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=SafetyBoxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="SAFETYBOX_HOME",
    help="Keep config, keys and data under this folder (default: /etc/safetybox, "
    "/var/lib/safetybox). Also SAFETYBOX_HOME.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.version_option(__version__, prog_name="safetybox")
@click.pass_context
def main(ctx: click.Context, home: str | None, verbose: bool) -> None:
    """SafetyBox: gas, temperature and pressure alarms that work with no network.

    \b
    Examples:
      safetybox --home ./demo init --demo     # a demo box in one folder
      safetybox --home ./demo run             # run it
      safetybox status                        # what the running box sees
      safetybox config check /tmp/new.toml    # validate before applying
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Context(home)  # commands pass the home on explicitly (no process-wide variable)


def _register() -> None:
    from box.cli import (
        alarm_cmds,
        bench_cmds,
        box_cmds,
        camera_cmds,
        config_cmds,
        driver_cmds,
        event_cmds,
        people_cmds,
        sensor_cmds,
        sim_cmds,
        store_cmds,
        sync_cmds,
        update_cmds,
        user_cmds,
        wipe_cmds,
    )

    for module in (
        box_cmds,
        alarm_cmds,
        config_cmds,
        driver_cmds,
        camera_cmds,
        store_cmds,
        event_cmds,
        bench_cmds,
        sim_cmds,
        sync_cmds,
        sensor_cmds,
        user_cmds,
        update_cmds,
        wipe_cmds,
        people_cmds,
    ):
        for command in module.COMMANDS:
            main.add_command(command)
    add_plugin_commands(main)


def add_plugin_commands(group: click.Group) -> dict[str, str]:
    """Command groups other packages add (``safetybox.cli`` entry points). A broken one, or
    one that would replace a built-in command, is logged by name and the rest works.
    Returns the failures (name -> why)."""
    taken = dict(group.commands)
    extra = plugins.load(plugins.CLI, plugins.instance_of(click.Command), builtins=taken)
    for name, command in extra.items.items():
        if name not in taken:
            group.add_command(command, name)
    return extra.failed


_register()
