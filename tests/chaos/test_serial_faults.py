"""The field bus under faults, in a running box: a USB-RS485 adapter pulled out and plugged back
(its device node vanishes and returns, emulated with a symlink to a pseudo-terminal), and a
sensor that answers garbage for a long time (accelerated: many polls a second). The channel
faults, nothing crashes, no made-up value is stored, and it recovers on its own.

``CHAOS_GARBAGE_POLLS`` sets the garbage polls (default 200; ``make chaos`` runs 3,600: an
hour of a once-a-second poll).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.records import Quality
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from drivers.modbus.profiles import shipped
from sim.modbus_slave import DeviceSim, PtySlave, Slave
from tests.conftest import open_reader, wait_for, write_config

pytestmark = pytest.mark.slow

GARBAGE_POLLS = int(os.environ.get("CHAOS_GARBAGE_POLLS", "200"))

BODY = """
[outputs]
pin_factory = "mock"
buzzer = {{ pin = 17 }}
tower = {{ red = {{ pin = 22 }}, yellow = {{ pin = 23 }}, green = {{ pin = 24 }} }}

[[channels]]
id = "probe.lel"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms]
stale_after_s = 2
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 2 }}]

[[drivers]]
type = "modbus"
name = "rs485"
port = "{port}"
baudrate = 115200
timeout_s = 0.1
retries = 0
[[drivers.devices]]
unit = 3
profile = "generic-gas-probe"
interval_s = 0.02
channels = {{ concentration = "probe.lel" }}
"""


class GarbageSlave(Slave):
    """While ``garbage`` is set, every answer is random: a random function code and length, or
    a read answer of the right size full of random words (valid CRC either way: the bytes
    arrive intact, they just mean nothing)."""

    def __init__(self, devices: list[DeviceSim]) -> None:
        super().__init__(devices)
        self.garbage = False
        self.garbage_answers = 0
        self.rng = random.Random(16)

    def answer(self, unit: int, pdu: bytes) -> bytes | None:
        if not self.garbage:
            return super().answer(unit, pdu)
        self.garbage_answers += 1
        r = self.rng
        pick = r.random()
        if pick < 0.3:
            return bytes(r.getrandbits(8) for _ in range(r.randint(0, 40)))
        if pick < 0.4:
            return None
        count = pdu[4] if len(pdu) >= 5 else 1
        if pick < 0.5:
            count = r.randint(0, 127)  # a byte count that disagrees with the request
        return bytes([pdu[0], 2 * count & 0xFF]) + bytes(r.getrandbits(8) for _ in range(2 * count))


class Bench:
    def __init__(self, tmp_path: Path, home: Path) -> None:
        self.link = tmp_path / "ttyUSB0"
        self.home = home
        self.slaves: list[PtySlave] = []
        self.sim = GarbageSlave([DeviceSim(shipped()["generic-gas-probe"], 3, base=5.0)])
        self.plug()
        write_config(home, BODY.format(port=self.link))
        self.box = Daemon(BoxHome.under(home))
        self.box.start()

    def plug(self) -> None:
        pty = PtySlave(self.sim).start()
        self.slaves.append(pty)
        os.symlink(pty.path, self.link)

    def unplug(self) -> None:
        self.link.unlink()
        self.slaves.pop().stop()

    def fault(self) -> str:
        return str(self.box.engine.alarms["probe.lel:fault"].state)

    def healthy(self) -> bool:
        return (
            self.fault() in ("normal", "cleared_unack")
            and not self.box.engine.alarms["probe.lel:fault"].effective
        )

    def alive(self) -> None:
        assert self.box.writer.is_alive() and self.box.pipeline.is_alive()
        assert all(s.is_alive() for s in self.box.supervisors)

    def close(self) -> None:
        self.box.stop()
        for pty in self.slaves:
            pty.stop()


@pytest.fixture
def bench(tmp_path: Path, home: Path) -> Iterator[Bench]:
    b = Bench(tmp_path, home)
    yield b
    b.close()


def stored_values(home: Path) -> list[tuple[float | None, int]]:
    conn = open_reader(home)
    try:
        return conn.execute("SELECT value, quality FROM readings").fetchall()
    finally:
        conn.close()


def test_adapter_unplugged_and_replugged(bench: Bench) -> None:
    wait_for(lambda: bench.box.engine.rules["probe.lel"].fault.last_good > 0, what="reading")
    wait_for(bench.healthy, what="healthy at start")
    for cycle in range(3):
        bench.unplug()
        wait_for(lambda: bench.box.engine.alarms["probe.lel:fault"].effective, what="fault")
        bench.alive()
        time.sleep(0.3 * cycle)
        bench.plug()
        back = time.monotonic()
        wait_for(bench.healthy, what=f"recovered after replug {cycle}")
        assert time.monotonic() - back < 10
        bench.alive()
    assert bench.box.engine.alarms["probe.lel:fault"].raised_at is not None


def test_a_sensor_answering_garbage_faults_and_recovers(bench: Bench) -> None:
    wait_for(bench.healthy, what="healthy at start")
    bench.sim.garbage = True
    started = time.monotonic()
    wait_for(
        lambda: bench.sim.garbage_answers >= GARBAGE_POLLS,
        timeout=30 + GARBAGE_POLLS * 0.2,
        what=f"{GARBAGE_POLLS} garbage answers",
    )
    garbage_s = time.monotonic() - started
    assert bench.box.engine.alarms["probe.lel:fault"].effective, "garbage faults the channel"
    bench.alive()
    bench.sim.garbage = False
    wait_for(bench.healthy, what="recovered after garbage")
    bench.alive()
    bench.box.writer.flush()
    rows = stored_values(bench.home)
    good = [v for v, q in rows if q < Quality.BAD]
    assert all(v is not None and math.isfinite(v) for v in good)
    diag = bench.box.supervisors[0].driver.diagnostics()
    errors = diag["devices"][3]["errors"]
    print(f"garbage: {bench.sim.garbage_answers} answers in {garbage_s:.1f} s; errors {errors}")
    assert sum(errors.values()) > 0
