"""Random command lines to the real click app (CliRunner) on an initialised box home with no
box running: every command that works offline, with random options, values and arguments.
The exit code is 0, 1 (an error, with a message) or 2 (a usage error), never a traceback.
(No NUL bytes: a real command line cannot carry one, only CliRunner can.)

Commands that run forever, reach the network or run programs (run, sim, consume, bench,
sensors, sync wait, update apply/rollback) are left out: they are tested on their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from box.cli import main
from tests.chaos.fuzzing import chaos_settings
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

EXCLUDED = {"run", "sim", "consume", "bench", "sensors", "sync wait", "update apply",
            "update rollback", "init"}  # fmt: skip


def leaves(
    cmd: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from leaves(sub, (*path, name))
    elif not any(" ".join(path).startswith(x) for x in EXCLUDED):
        yield path, cmd


COMMANDS = list(leaves(main))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("cli") / "box"
    run_cli(h, "init")
    (h.parent / "cwd").mkdir()
    (h / "garbage.bin").write_bytes(os.urandom(256))
    (h / "bad.toml").write_text("config_version = 1\n[[channels]]\nid = 3\n")
    return h


def values(home: Path) -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["", "x", "-1", "0", "1", "1e309", "nan", "-inf", "10s", "5m", "2h", "../x", "/", "--",
         "-", "t1.lel", "t1.lel:A1", "admin", "viewer", "operator", "bash", "2026-01-01",
         "yesterday", "csv", "json", str(home / "box.toml"), str(home / "garbage.bin"),
         str(home / "bad.toml"), str(home / "missing.toml"), "é", "--json"]
    ) | st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
                max_size=12)  # fmt: skip


@st.composite
def argvs(draw: st.DrawFn, home: Path) -> list[str]:
    path, cmd = draw(st.sampled_from(COMMANDS))
    argv = list(path)
    options = [o for p in cmd.params if isinstance(p, click.Option) for o in p.opts]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["option", "value", "option-value", "junk-option"]))
        if kind == "option" and options:
            argv.append(draw(st.sampled_from(options)))
        elif kind == "option-value" and options:
            argv += [draw(st.sampled_from(options)), draw(values(home))]
        elif kind == "junk-option":
            argv.append("--" + draw(st.text("abcdefgh-", max_size=6)))
        else:
            argv.append(draw(values(home)))
    return argv


@chaos_settings()
@given(data=st.data())
def test_random_command_lines_exit_cleanly(home: Path, data: st.DataObject) -> None:
    argv = data.draw(argvs(home), "argv")
    cwd = os.getcwd()
    os.chdir(home.parent / "cwd")  # relative output files land in the test's folder
    try:
        result = CliRunner().invoke(main, ["--home", str(home), *argv], input="")
    finally:
        os.chdir(cwd)
    out = result.output
    assert result.exit_code in (0, 1, 2), (argv, result.exit_code, out[-500:])
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), (argv, repr(result.exception), out)
    assert "Traceback" not in out, (argv, out)
    if result.exit_code:
        assert out.strip(), f"{argv}: a failure says why"


@pytest.mark.parametrize("alarm_id", ["t1.lel:A1\x01", "a b", "x/../../users", "a?b#c"])
def test_alarm_ids_with_any_characters_are_sent_quoted(home: Path, alarm_id: str) -> None:
    """Found by the fuzzing above: a control character in an alarm id raised InvalidURL."""
    result = CliRunner().invoke(main, ["--home", str(home), "alarms", "ack", alarm_id])
    assert result.exit_code == 1 and "no box answers" in result.output, result.output
