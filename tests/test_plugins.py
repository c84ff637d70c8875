"""The one plugin registry: each kind is an entry-point group, loaded the same way."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import click
import pytest

from box.cli import add_plugin_commands, main
from box.core import plugins
from tests.conftest import run_cli


def _eps(monkeypatch: pytest.MonkeyPatch, group: str, *pairs: tuple[str, str]) -> None:
    eps = [EntryPoint(name, value, group) for name, value in pairs]
    installed = plugins.entry_points  # other groups stay as installed (cached registries!)

    def entry_points(group: str) -> list[EntryPoint]:
        mine = [e for e in eps if e.group == group]
        return mine if any(e.group == group for e in eps) else list(installed(group=group))

    monkeypatch.setattr(plugins, "entry_points", entry_points)


def test_load_reports_broken_and_wrong_plugins_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _eps(
        monkeypatch,
        plugins.CLI,
        ("hello", "tests.example_plugins:hello"),
        ("broken", "no_such_module_xyz:thing"),
        ("wrong", "tests.example_plugins:not_a_command"),
        ("status", "tests.example_plugins:hello"),
    )
    loaded = plugins.load(
        plugins.CLI, plugins.instance_of(click.Command), builtins={"status": object()}
    )
    assert set(loaded.items) == {"hello", "status"}
    assert loaded.items["hello"].name == "hello"
    assert "ModuleNotFoundError" in loaded.failed["broken"]
    assert "is not a Command" in loaded.failed["wrong"]
    assert "taken by a built-in" in loaded.failed["status"]


def test_a_cli_plugin_group_joins_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    _eps(
        monkeypatch,
        plugins.CLI,
        ("hello", "tests.example_plugins:hello"),
        ("broken", "no_such_module_xyz:thing"),
        ("status", "tests.example_plugins:hello"),
    )
    monkeypatch.setattr(main, "commands", dict(main.commands))
    builtin_status = main.commands["status"]
    failed = add_plugin_commands(main)
    assert set(failed) == {"broken", "status"}
    assert main.commands["status"] is builtin_status, "a plug-in never replaces a built-in"
    assert run_cli(None, "hello", "world").output == "hello, world\n"
    assert "Plug-ins" in run_cli(None, "--help").output
