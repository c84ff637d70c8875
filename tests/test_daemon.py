"""The daemon in-process: status API, reload, supervision, and degraded start-ups."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.config.changes import digest
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.runtime.status import status_line
from drivers.base import DriverRegistry
from drivers.simulated import SimDriver
from tests.conftest import free_port, get_json, open_reader, sim_body, wait_for, write_config


@pytest.fixture
def started() -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for d in daemons:
        d.stop()


def start(home: Path, started: list[Daemon], registry: DriverRegistry | None = None) -> Daemon:
    d = Daemon(BoxHome.under(home), registry=registry)
    d.start()
    started.append(d)
    return d


def events(home: Path, kind: str) -> list[dict]:
    conn = open_reader(home)
    try:
        rows = conn.execute(
            "SELECT source, details FROM events WHERE kind = ? ORDER BY seq", (kind,)
        )
        return [{"source": s, **json.loads(d)} for s, d in rows]
    finally:
        conn.close()


def post(url: str, token: str | None, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_status_endpoint_shows_channels_queues_store_and_limit_events(
    home: Path, started: list[Daemon]
) -> None:
    port = free_port()
    write_config(home, sim_body(interval=0.02, step_at=0.3, step_back=0.8), port)
    d = start(home, started)
    url = f"http://127.0.0.1:{port}/api/status"
    s = wait_for(lambda: (s := get_json(url))["store"]["committed_readings"] >= 20 and s)
    assert s["healthy"] and s["box_id"] == d.box_id
    lel = next(c for c in s["channels"] if c["id"] == "t1.lel")
    assert lel["unit"] == "%LEL" and lel["quality"] == "good" and lel["age_s"] < 5
    assert set(s["queues"]) == {"pipeline", "store"}
    assert s["store"]["size_bytes"] > 0
    assert s["drivers"] == [
        {"name": "sim1", "type": "sim", "state": "running", "restarts": 0, "last_error": ""}
    ]
    wait_for(lambda: len(events(home, "alarm_cleared")) == 1, what="A1 raised then cleared")
    (raised,) = events(home, "alarm_raised")
    assert raised["alarm"] == "t1.lel:A1" and raised["value"] >= 25 and raised["first_out"]
    assert get_json(f"http://127.0.0.1:{port}/api/health")["ok"] is True


def test_reload_applies_a_valid_config_and_rejects_an_invalid_one(
    home: Path, started: list[Daemon]
) -> None:
    port = free_port()
    write_config(home, sim_body(), port)
    d = start(home, started)
    url = f"http://127.0.0.1:{port}/api/config/reload"
    assert post(url, None)[0] == 401
    assert post(url, "wrong")[0] == 401

    good = (home / "box.toml").read_text().replace("at = 25.0, level = 2", "at = 30.0, level = 2")
    (home / "box.toml").write_text(good)
    code, result = post(url, d.api_token, {"who": "alice"})
    assert code == 200 and result["changed"] == ["channels[0].alarms.thresholds.levels[0].at"]
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 30.0

    (home / "box.toml").write_text(good.replace("at = 30.0", "at = 'x'"))
    code, result = post(url, d.api_token, {"who": "bob"})
    assert code == 422 and not result["accepted"]
    assert "channels[0].alarms.thresholds.levels[0].at = 'x'" in result["errors"][0]
    assert d.engine.rules["t1.lel"].thresholds.at["A1"] == 30.0, (
        "the last good config keeps running"
    )

    d.writer.flush()
    applied = events(home, "config_applied")
    assert [a["who"] for a in applied] == ["startup (file changed while stopped)", "api:alice"]
    assert applied[1]["changed"] == ["channels[0].alarms.thresholds.levels[0].at"]
    assert applied[1]["sha256"] == digest(good)
    (rejected,) = events(home, "config_rejected")
    assert (
        rejected["who"] == "api:bob" and "Input should be a valid number" in rejected["errors"][0]
    )
    history = sorted((home / "data" / "config-history").glob("box-*.toml"))
    assert len(history) == 2 and history[-1].read_text() == good


def test_a_crashing_driver_is_restarted_and_stored_as_a_fault(
    home: Path, started: list[Daemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("box.runtime.supervisor.BACKOFF_START_S", 0.05)
    body = (
        sim_body()
        + """
[[channels]]
id = "crashy.ch"
kind = "other"
unit = "x"

[[drivers]]
type = "sim"
name = "crashy"
interval_s = 0.01
crash_after_s = 0.1
[[drivers.points]]
channel = "crashy.ch"
waveform = { shape = "constant", value = 1.0 }
"""
    )
    write_config(home, body)
    d = start(home, started)
    wait_for(lambda: d.supervisors[1].restarts >= 2, what="two restarts")
    assert d.supervisors[0].restarts == 0 and d.supervisors[0].state == "running"
    d.writer.flush()
    faults = events(home, "fault")
    assert faults[0]["source"] == "driver:crashy" and "simulated crash" in faults[0]["error"]
    assert faults[1]["restart_in_s"] == 2 * faults[0]["restart_in_s"], "backoff doubles"
    assert not d.api.health_problems(), "restarting drivers do not make the box unhealthy"


def test_unavailable_driver_is_reported_while_the_others_run(
    home: Path, started: list[Daemon]
) -> None:
    registry = DriverRegistry.from_entry_points()
    registry.failed["uwb"] = "ImportError: no module named uwb_x"
    body = sim_body() + '\n[[drivers]]\ntype = "uwb"\nname = "bus1"\nport = "/dev/ttyUSB0"\n'
    write_config(home, body)
    d = start(home, started, registry)
    wait_for(lambda: d.pipeline.processed_readings > 0, what="readings from the sim driver")
    d.writer.flush()
    (ev,) = events(home, "driver_unavailable")
    assert ev["driver"] == "bus1" and "uwb_x" in ev["error"]
    assert d.api.snapshot()["failed_driver_imports"] == {
        "uwb": "ImportError: no module named uwb_x"
    }


def test_web_port_in_use_does_not_stop_the_box(home: Path, started: list[Daemon]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        write_config(home, sim_body(), blocker.getsockname()[1])
        d = start(home, started)
        wait_for(lambda: d.pipeline.processed_readings > 0, what="ingest without web")
        assert "cannot listen on" in d.web_error
        d.writer.flush()
        assert events(home, "fault")[0]["source"] == "web"


def test_invalid_config_at_startup_runs_the_last_good_one(
    home: Path, started: list[Daemon]
) -> None:
    write_config(home, sim_body())
    start(home, started).stop()
    started.clear()
    (home / "box.toml").write_text((home / "box.toml").read_text() + "\nbogus = 1\n")
    d = start(home, started)
    assert d.config.drivers[0].name == "sim1"
    d.writer.flush()
    (ev,) = events(home, "config_rejected")
    assert ev["who"] == "startup" and "bogus" in ev["errors"]


def test_a_truncated_config_is_not_an_empty_site(home: Path, started: list[Daemon]) -> None:
    """An SD card that loses box.toml's content must not boot into a box with no channels."""
    write_config(home, sim_body())
    start(home, started).stop()
    started.clear()
    (home / "box.toml").write_text("")
    d = start(home, started)
    assert [c.id for c in d.config.channels] == ["t1.lel", "t1.temp"]
    d.writer.flush()
    (ev,) = events(home, "config_rejected")
    assert "config_version = (missing)" in ev["errors"]


def test_invalid_config_and_no_history_refuses_to_start(home: Path) -> None:
    from box.core.errors import ConfigError

    (home / "box.toml").write_text("bogus = 1\n")
    with pytest.raises(ConfigError, match="bogus = 1: unknown key"):
        Daemon(BoxHome.under(home)).start()


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.watchdog_interval_s = None

    def send(self, **fields: str) -> None:
        self.sent.append(fields)

    def watchdog(self) -> None:
        self.send(WATCHDOG="1")

    def status(self, text: str) -> None:
        self.send(STATUS=text)

    def ready(self, text: str) -> None:
        self.send(READY="1", STATUS=text)

    def stopping(self) -> None:
        self.send(STOPPING="1")


def test_watchdog_is_fed_only_while_workers_are_alive(home: Path, started: list[Daemon]) -> None:
    write_config(home, sim_body())
    d = Daemon(BoxHome.under(home))
    d.notifier = RecordingNotifier()
    d.start()
    started.append(d)
    assert d.notifier.sent[0]["READY"] == "1"
    assert d.tick() is True and {"WATCHDOG": "1"} in d.notifier.sent
    d.notifier.sent.clear()
    d.writer.heartbeat -= 60  # the writer looks stuck
    assert d.tick() is False
    assert d.notifier.sent == [{"STATUS": "unhealthy: store writer stuck or dead"}]
    d.writer.heartbeat += 60
    d.pipeline.stop()  # a dead worker thread
    assert d.tick() is False and "pipeline stuck or dead" in d.api.health_problems()


def test_restart_records_only_what_changed_while_stopped(home: Path, started: list[Daemon]) -> None:
    write_config(home, sim_body())
    start(home, started).stop()
    started.clear()
    start(home, started).stop()  # unchanged: no new config event
    started.clear()
    cfg = home / "box.toml"
    cfg.write_text(cfg.read_text().replace("interval_s = 0.05", "interval_s = 0.1"))
    start(home, started).writer.flush()
    applied = events(home, "config_applied")
    assert [a["changed"] for a in applied] == [["(initial config)"], ["drivers[0].interval_s"]]


def test_physical_ack_and_reset_buttons(home: Path, started: list[Daemon]) -> None:
    body = (
        sim_body(interval=0.02, step_at=0.1, step_back=2.0).replace(
            '{ name = "A2", at = 50.0, level = 1 }',
            '{ name = "A2", at = 30.0, level = 1, latching = true }',
        )
        + "\n[inputs]\nack_button = { pin = 20 }\nreset_button = { pin = 21 }\n"
    )
    write_config(home, body)
    d = start(home, started)
    state = lambda: {a["id"]: a["state"] for a in d.engine.views}  # noqa: E731
    wait_for(lambda: state().get("t1.lel:A2") == "active_unack", what="A2 raised")
    assert d.outputs.states()["buzzer"]["mode"] == "continuous"
    pin = d.outputs.factory.pin(20)
    pin.drive_low()  # press: silence and acknowledge all
    pin.drive_high()
    wait_for(lambda: state().get("t1.lel:A2") in ("active_ack", "latched"), what="acked by button")
    assert d.outputs.states()["buzzer"]["mode"] == "off"
    wait_for(lambda: state().get("t1.lel:A2") == "latched", what="gas gone, A2 latched")
    reset = d.outputs.factory.pin(21)
    reset.drive_low()
    reset.drive_high()
    wait_for(lambda: "t1.lel:A2" not in state(), what="reset by button")
    d.writer.flush()
    acked = events(home, "alarm_acked")
    assert acked and all(a["who"] == "button" for a in acked)
    assert events(home, "alarm_reset")[0]["who"] == "button"


def test_start_up_line_counts_the_store_and_this_run(home: Path, started: list[Daemon]) -> None:
    from box.core.records import Quality, Reading, now_ms
    from box.keys import FileKeyProvider
    from box.store.config import StoreSection
    from box.store.writer import StoreWriter

    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.start()
    w.submit_readings([Reading("old", now_ms() - 5000 + i, 1.0, Quality.GOOD) for i in range(900)])
    assert w.flush()
    w.stop()
    write_config(home, "")
    d = start(home, started)
    assert status_line(d).endswith("900 readings stored (0 this run)")
    s = get_json(f"http://{_listen(home)}/api/status")
    assert s["store"]["stored_readings"] == 900 and s["store"]["committed_readings"] == 0


def _listen(home: Path) -> str:
    import tomllib

    return tomllib.loads((home / "box.toml").read_text())["web"]["listen"][0]


def test_a_start_up_that_fails_part_way_closes_what_it_opened(home: Path) -> None:
    """The outputs cannot be built after the store was opened (a pin factory this machine
    lacks, and no config in history to fall back to): the error is raised, the store is
    flushed and released, nothing keeps running (the autouse fixture checks threads)."""
    from box.keys import FileKeyProvider
    from box.store.config import StoreSection
    from box.store.writer import StoreWriter

    write_config(home, sim_body().replace('pin_factory = "mock"', 'pin_factory = "rpigpio"'))
    d = Daemon(BoxHome.under(home))
    with pytest.raises(Exception, match="rpigpio"):
        d.start()
    assert events(home, "daemon_started") and events(home, "daemon_stopped"), "flushed"
    bh = BoxHome.under(home)
    w = StoreWriter(bh.database_file, FileKeyProvider(bh.keys_dir).get("store"), StoreSection())
    w.stop()  # the lock was released: the next start can take it


def test_a_driver_that_cannot_be_built_is_reported_and_the_rest_runs(
    home: Path, started: list[Daemon]
) -> None:
    class Broken(SimDriver):
        type_key = "sim"

        def __init__(self, *args: object) -> None:
            raise TypeError("a plug-in bug in __init__")

    write_config(home, sim_body())
    d = start(home, started, DriverRegistry(drivers={"sim": Broken}))
    (ev,) = events(home, "driver_unavailable")
    assert ev["driver"] == "sim1" and "a plug-in bug in __init__" in ev["error"]
    assert d.api.health_problems() == []


def test_a_dead_web_thread_is_a_health_problem(home: Path, started: list[Daemon]) -> None:
    write_config(home, sim_body())
    d = start(home, started)
    assert d.api.health_problems() == []
    assert d.web is not None
    for server in d.web._servers:  # the page's server ends; the alarms must not hide it
        server.stop()
    wait_for(lambda: "web server thread dead" in d.api.health_problems(), what="web problem")


def test_alarm_transition_lines_are_written_off_the_core_thread(
    home: Path, started: list[Daemon]
) -> None:
    """A slow log handler (journald, an SD card) must never hold the alarm path."""
    import logging
    import threading

    seen: list[tuple[str, str]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "box.alarms.transitions":
                seen.append((threading.current_thread().name, record.getMessage()))

    root = logging.getLogger()
    handler, level = Recorder(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        write_config(home, sim_body(step_at=0.2, step_back=3600))
        d = start(home, started)
        wait_for(lambda: any("t1.lel:A1" in m for _, m in seen), what="the A1 line")
        assert all(thread != "pipeline" for thread, _ in seen), seen
        d.stop()
        started.remove(d)
        assert logging.getLogger("box.alarms.transitions").propagate, "routed back on stop"
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
