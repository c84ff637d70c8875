"""The ``safetybox`` command: a click group over the library, for field technicians.

Library errors (:class:`box.core.errors.SafetyBoxError`) become one-line messages, never tracebacks.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, MutableMapping
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


# Where each built-in command lives. A command's module is imported when that command runs (or
# help lists them all): ``safetybox run`` then loads the daemon, not the export, restore,
# bench, sensor and user tools with their libraries (~15 MiB of the daemon's memory).
BUILTIN_COMMANDS = {
    "init": "box.cli.box_cmds",
    "run": "box.cli.box_cmds",
    "status": "box.cli.box_cmds",
    "doctor": "box.cli.box_cmds",
    "completion": "box.cli.box_cmds",
    "alarms": "box.cli.alarm_cmds",
    "config": "box.cli.config_cmds",
    "drivers": "box.cli.driver_cmds",
    "readings": "box.cli.store_cmds",
    "audit": "box.cli.store_cmds",
    "backup": "box.cli.store_cmds",
    "restore": "box.cli.store_cmds",
    "events": "box.cli.event_cmds",
    "bench": "box.cli.bench_cmds",
    "sim": "box.cli.sim_cmds",
    "keys": "box.cli.sync_cmds",
    "consume": "box.cli.sync_cmds",
    "sync": "box.cli.sync_cmds",
    "sensors": "box.cli.sensor_cmds",
    "users": "box.cli.user_cmds",
    "people": "box.cli.people_cmds",
    "cameras": "box.cli.camera_cmds",
    "update": "box.cli.update_cmds",
    "wipe": "box.cli.wipe_cmds",
}


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands, imported on first use. Plug-in commands (entry points) are looked
    up only for a name that is not built in, or to list every command (help, completion)."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = modules
        self._loaded: dict[str, click.Command] = {}

    def _builtin(self, name: str) -> click.Command | None:
        command = self._loaded.get(name)
        if command is None and name in self._modules:
            module = importlib.import_module(self._modules[name])
            for cmd in module.COMMANDS:
                self._loaded.setdefault(cmd.name or "", cmd)
            command = self._loaded.get(name)
            if command is None:
                raise LookupError(f"{self._modules[name]} has no command {name!r}")
        return command

    def _plugins(self) -> dict[str, click.Command]:
        """Not cached: entry points are read again each time (only for help or an unknown
        name), so a plug-in installed meanwhile, or a test's own entry points, are seen."""
        builtins = {name: self[name] for name in self._modules}
        builtins.update(self._loaded)
        extra = plugins.load(plugins.CLI, plugins.instance_of(click.Command), builtins=builtins)
        return {n: c for n, c in extra.items.items() if n not in builtins}

    def __getitem__(self, name: str) -> click.Command:
        command = self._builtin(name)
        if command is None:
            command = self._plugins().get(name)
        if command is None:
            raise KeyError(name)
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        found = self._loaded.pop(name, None) is not None
        if self._modules.pop(name, None) is None and not found:
            raise KeyError(name)

    def _names(self) -> list[str]:
        names = dict.fromkeys([*self._modules, *self._loaded])
        names.update(dict.fromkeys(self._plugins()))
        return list(names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self._modules or name in self._loaded or (name in self._plugins())
        )


main.commands = LazyCommands(dict(BUILTIN_COMMANDS))


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
