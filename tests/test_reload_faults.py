"""Applying a config never kills the box: what cannot be built is refused before anything
switches, the old outputs and drivers keep running, and only what changed is restarted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.paths import BoxHome
from box.runtime import status
from box.runtime.daemon import Daemon
from tests.conftest import open_reader, sim_body, wait_for, write_config

TWO_DRIVERS = sim_body().replace(
    '[[drivers.points]]\nchannel = "t1.temp"',
    '[[drivers]]\ntype = "sim"\nname = "sim2"\ninterval_s = 0.05\n\n'
    '[[drivers.points]]\nchannel = "t1.temp"',
)


@pytest.fixture
def daemon(home: Path) -> Iterator[Daemon]:
    write_config(home, TWO_DRIVERS)
    d = Daemon(BoxHome.under(home))
    d.start()
    yield d
    d.stop()


def kinds(home: Path, kind: str) -> list[dict]:
    conn = open_reader(home)
    try:
        rows = conn.execute("SELECT details FROM events WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(d) for (d,) in rows]
    finally:
        conn.close()


def edit(home: Path, old: str, new: str) -> None:
    text = (home / "box.toml").read_text()
    assert old in text
    (home / "box.toml").write_text(text.replace(old, new))


def test_outputs_that_cannot_be_built_leave_the_old_ones_and_config_running(
    home: Path, daemon: Daemon
) -> None:
    before = daemon.config
    edit(home, 'pin_factory = "mock"', 'pin_factory = "rpigpio"')  # valid, not on this machine
    result = daemon.reload("test")
    assert not result["accepted"] and "rpigpio" in result["errors"][0]
    assert daemon.config is before
    daemon.outputs.states()  # the old outputs are there and work
    json.dumps(status.snapshot(daemon), allow_nan=False)  # /api/status answers
    daemon.writer.flush()
    assert not [a for a in kinds(home, "config_applied") if a["who"] == "test"]
    (rejected,) = kinds(home, "config_rejected")
    assert "nothing was changed" in rejected["errors"][0]
    # And the box still reacts: a change that can be applied is, on the same outputs.
    edit(home, 'pin_factory = "rpigpio"', 'pin_factory = "mock"')
    edit(home, "at = 25.0, level = 2", "at = 30.0, level = 2")
    assert daemon.reload("test")["accepted"]
    assert daemon.engine.rules["t1.lel"].thresholds.at["A1"] == 30.0


def test_a_pin_used_twice_is_refused_by_reload_not_a_crash(home: Path, daemon: Daemon) -> None:
    edit(home, "buzzer = { pin = 17 }", "buzzer = { pin = 22 }")
    result = daemon.reload("signal:SIGHUP")
    assert not result["accepted"] and "already used by outputs.buzzer.pin" in result["errors"][0]
    assert daemon.config.outputs.buzzer.pin == 17


def test_a_reload_restarts_only_the_drivers_that_changed(home: Path, daemon: Daemon) -> None:
    sim1, sim2 = daemon.supervisors
    sync = daemon.sync
    edit(home, "at = 25.0, level = 2", "at = 30.0, level = 2")  # a channel's threshold
    assert daemon.reload("test")["accepted"]
    assert daemon.supervisors[0] is sim1 and daemon.supervisors[1] is sim2, "none restarted"
    edit(home, "mean = 20.0", "mean = 21.0")  # sim2's waveform only
    assert daemon.reload("test")["accepted"]
    assert daemon.supervisors[0] is sim1 and daemon.supervisors[1] is not sim2
    assert [s.name for s in daemon.supervisors] == ["sim1", "sim2"]
    assert not sim2.is_alive() and daemon.supervisors[1].is_alive()
    assert daemon.sync is sync
    wait_for(lambda: daemon.pipeline.live.get("t1.temp"), what="sim2 producing again")


def test_a_config_emptied_of_channels_is_refused_while_channels_run(
    home: Path, daemon: Daemon
) -> None:
    text = (home / "box.toml").read_text()
    (home / "box.toml").write_text(text[: text.index("[[outputs.relays]]")])
    result = daemon.reload("test")
    assert not result["accepted"] and "no [[channels]]" in result["errors"][0]
    assert len(daemon.config.channels) == 2


def test_start_up_falls_back_to_history_when_a_valid_config_fails_to_start(home: Path) -> None:
    write_config(home, sim_body())
    d = Daemon(BoxHome.under(home))
    d.start()
    d.stop()
    edit(home, 'pin_factory = "mock"', 'pin_factory = "rpigpio"')
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        assert d.config.outputs.pin_factory == "mock"
        assert d.supervisors and d.supervisors[0].is_alive()
        d.writer.flush()
        (rejected,) = kinds(home, "config_rejected")
        assert "rpigpio" in rejected["errors"] and rejected["who"] == "startup"
    finally:
        d.stop()


def test_a_restart_with_a_file_emptied_of_channels_runs_the_last_good_config(home: Path) -> None:
    write_config(home, sim_body())
    d = Daemon(BoxHome.under(home))
    d.start()
    d.stop()
    text = (home / "box.toml").read_text()
    (home / "box.toml").write_text(text[: text.index("[[outputs.relays]]")])  # cut off
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        assert [c.id for c in d.config.channels] == ["t1.lel", "t1.temp"]
        d.writer.flush()
        (rejected,) = kinds(home, "config_rejected")
        assert "no [[channels]]" in rejected["errors"]
    finally:
        d.stop()
