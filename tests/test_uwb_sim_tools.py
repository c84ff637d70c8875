"""The DWM1001 node simulator and the field tool, over a real pseudo-terminal."""

from __future__ import annotations

import time

import pytest
import serial

from drivers.uwb.shell import ShellDecoder
from firmware_tools import dwm1001_tool as tool
from sim.uwb import Dwm1001Node, PtyDevice, Walker


@pytest.fixture
def node_port():  # noqa: ANN201
    node = Dwm1001Node(Walker("t1", [(0, 3.0, 4.0)]))
    dev = PtyDevice(node).start()
    port = serial.serial_for_url(dev.path, baudrate=115200, timeout=0.2)
    yield node, port
    port.close()
    dev.stop()


def test_the_tool_reads_and_configures_a_node(node_port) -> None:  # noqa: ANN001
    node, port = node_port
    tool.to_tlv_mode(port)
    info = tool.read_info(port)
    assert (info.firmware, info.mode, info.active_ms) == ("1.3.0.1", "tag", 100)
    info = tool.set_update_rate(port, 200, 2000)
    assert (info.active_ms, info.stationary_ms) == (200, 2000)
    assert node.config.writes == 1
    tool.set_update_rate(port, 200, 2000)
    assert node.config.writes == 1, "nothing is written when the value is already set"
    assert tool.set_mode(port, "anchor", initiator=True).mode == "anchor"
    assert tool.read_info(port).initiator
    with pytest.raises(ValueError, match="active <= stationary"):
        tool.set_update_rate(port, 500, 100)


def test_the_shell_is_entered_and_streams_lines(node_port) -> None:  # noqa: ANN001
    node, port = node_port
    port.write(b"\r\r")
    time.sleep(0.1)
    port.write(b"lep\r")
    d = ShellDecoder("t1")
    fixes = []
    deadline = time.monotonic() + 5
    while len(fixes) < 3 and time.monotonic() < deadline:
        fixes += d.feed(port.read(4096))
    assert len(fixes) >= 3 and (fixes[0].x, fixes[0].y) == (3.0, 4.0)
    assert d.stats.dropped == 0, d.stats.last_dropped


def test_the_cli_configures_a_node() -> None:
    from tests.conftest import run_cli

    node = Dwm1001Node(Walker("t1", [(0, 3.0, 4.0)]))
    dev = PtyDevice(node).start()
    try:
        out = run_cli(
            None,
            "people",
            "node",
            dev.path,
            "--mode",
            "anchor",
            "--update-rate",
            "200,1000",
            "--json",
        ).output  # type: ignore[attr-defined]
        assert '"mode": "anchor"' in out and '"active_ms": 200' in out
        assert node.config.mode == "anchor" and node.config.stationary_ms == 1000
        bad = run_cli(None, "people", "node", dev.path, "--update-rate", "150,1000", check=False)
        assert bad.exit_code != 0 and "steps of 100 ms" in bad.output  # type: ignore[attr-defined]
    finally:
        dev.stop()
