"""The UWB drivers against the simulators: TLV polling, shell re-entry after a module reset,
LinkTrack frames among junk, and JSON over a real MQTT broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from box.core.records import Position
from drivers.uwb.dwm1001 import Dwm1001Config, Dwm1001Driver
from drivers.uwb.json_driver import JsonSourceConfig, JsonSourceDriver
from drivers.uwb.linktrack_driver import LinkTrackConfig, LinkTrackDriver
from sim.uwb import Dwm1001Node, PtyDevice, Walker, linktrack_stream, publish_mqtt
from tests.broker import Broker
from tests.conftest import wait_for


class Running:
    """A driver in its own thread, as the supervisor runs it, collecting what it emits."""

    def __init__(self, cls: Any, config: Any) -> None:
        self.positions: list[Position] = []
        self.driver = cls(config, self.positions.extend)
        self.stop = threading.Event()
        self.driver.start()
        self.thread = threading.Thread(target=self.driver.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.driver.stop()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    made: list[Running] = []
    yield made
    for r in made:
        r.close()


@pytest.fixture
def node() -> Iterator[tuple[Dwm1001Node, PtyDevice]]:
    n = Dwm1001Node(Walker("t1", [(0, 3.0, 4.0)]))
    dev = PtyDevice(n, interval_s=0.05).start()
    yield n, dev
    dev.stop()


def test_tlv_polling_gives_positions(node, running) -> None:  # noqa: ANN001
    n, dev = node
    cfg = Dwm1001Config(name="d", port=dev.path, tag="t1", mode="tlv", poll_interval_s=0.05)
    r = Running(Dwm1001Driver, cfg)
    running.append(r)
    wait_for(lambda: len(r.positions) >= 3, what="TLV positions")
    p = r.positions[0]
    assert (p.tag, p.x, p.y) == ("t1", 3.0, 4.0) and p.source == "d"
    cfg2 = cfg.model_copy(update={"tlv_command": "pos_get"})
    assert cfg2.tlv_command == "pos_get"


def test_tlv_mode_leaves_a_shell_left_open(node, running) -> None:  # noqa: ANN001
    n, dev = node
    n.shell = True  # someone left the module in the shell
    cfg = Dwm1001Config(name="d", port=dev.path, tag="t1", mode="tlv", poll_interval_s=0.05)
    r = Running(Dwm1001Driver, cfg)
    running.append(r)
    wait_for(lambda: len(r.positions) >= 2, what="positions after quitting the shell")
    assert r.driver.counters["reentries"] >= 1


def test_the_shell_stream_is_entered_again_after_a_module_reset(node, running) -> None:  # noqa: ANN001
    n, dev = node
    cfg = Dwm1001Config(name="d", port=dev.path, tag="t1", stream="lec", reenter_after_s=0.5)
    r = Running(Dwm1001Driver, cfg)
    running.append(r)
    wait_for(lambda: len(r.positions) >= 3, what="shell lines")
    n.reset()  # back in TLV mode, silent
    count = len(r.positions)
    time.sleep(0.2)
    wait_for(lambda: len(r.positions) >= count + 5, what="lines after the reset")
    assert r.driver.counters["reentries"] >= 2


def test_garbled_shell_lines_are_dropped_and_counted(running) -> None:  # noqa: ANN001
    n = Dwm1001Node(Walker("t1", [(0, 3.0, 4.0)]), garbage=0.2, interleave=0.2, seed=5)
    dev = PtyDevice(n, interval_s=0.01).start()
    try:
        cfg = Dwm1001Config(name="d", port=dev.path, tag="t1", stream="lep")
        r = Running(Dwm1001Driver, cfg)
        running.append(r)
        wait_for(lambda: r.driver.shell.stats.dropped >= 5, what="dropped lines")
        assert all((p.x, p.y) == (3.0, 4.0) for p in r.positions), "no damaged line got through"
    finally:
        running.pop().close()
        dev.stop()


def test_linktrack_frames_among_junk(running) -> None:  # noqa: ANN001
    walkers = [Walker("n3", [(0, 1.5, 2.5)]), Walker("n9", [(0, -4.0, 7.25)])]
    dev = PtyDevice(stream=linktrack_stream(walkers, time.monotonic(), junk=0.5)).start()
    try:
        r = Running(LinkTrackDriver, LinkTrackConfig(name="lt", port=dev.path))
        running.append(r)
        wait_for(lambda: {p.tag for p in r.positions} == {"lt3", "lt9"}, what="both tags")
        assert {(p.tag, p.x, p.y) for p in r.positions} == {("lt3", 1.5, 2.5), ("lt9", -4.0, 7.25)}
        assert all(p.battery is not None and 0 <= p.battery <= 100 for p in r.positions)
        assert r.driver.decoder.stats.junk_bytes > 0
    finally:
        running.pop().close()
        dev.stop()


def test_json_over_mqtt_from_the_dwm_gateway(tmp_path: Path, running) -> None:  # noqa: ANN001
    broker = Broker(tmp_path / "broker")
    try:
        cfg = JsonSourceConfig(name="gw", port=broker.port, transform={"offset": (10, 0, 0)})  # type: ignore[arg-type]
        r = Running(JsonSourceDriver, cfg)
        running.append(r)
        time.sleep(0.5)  # subscribed
        publish_mqtt([Walker("0a1b", [(0, 1.0, 2.0)])], "127.0.0.1", broker.port, 1.0)
        wait_for(lambda: r.positions, what="positions over MQTT")
        p = r.positions[0]
        assert (p.tag, p.x, p.y) == ("0a1b", 11.0, 2.0)
    finally:
        running.pop().close()
        broker.stop()
