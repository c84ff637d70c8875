"""The Modbus bus thread's schedule on a fake clock: polls that fall due while the bus is busy
are skipped and counted, never queued, so a unit is never polled twice in a row at once."""

from __future__ import annotations

import random
import threading
from collections import defaultdict

import pytest

from drivers.modbus.driver import ModbusDriver, ModbusDriverConfig
from drivers.modbus.schedule import next_slot


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pause(self, stop: threading.Event, seconds: float) -> bool:
        self.now += seconds
        return stop.is_set()


def run_on_fake_clock(
    intervals: dict[int, float], durations: dict[int, float], polls: int, jitter: float = 0.0
) -> tuple[ModbusDriver, dict[int, list[float]], float]:
    """Run the driver's real loop on a fake clock, each poll taking its unit's duration of bus
    time (times 1 +- ``jitter``, seeded); returns the driver, each unit's poll start times and
    the time run."""
    rng = random.Random(10)
    cfg = ModbusDriverConfig.model_validate(
        {
            "type": "modbus",
            "name": "bus",
            "host": "127.0.0.1",
            "devices": [
                {
                    "unit": u,
                    "profile": "midas-float",
                    "interval_s": i,
                    "channels": {"concentration": f"c{u}"},
                }
                for u, i in intervals.items()
            ],
        }
    )
    clock = FakeClock()
    driver = ModbusDriver(cfg, lambda batch: None)
    driver.clock = clock  # type: ignore[method-assign]
    driver.pause = clock.pause  # type: ignore[method-assign]
    driver.start()
    driver.connected = True
    stop = threading.Event()
    starts: dict[int, list[float]] = defaultdict(list)
    t0 = clock.now

    def poll(dev) -> None:  # noqa: ANN001 - the bus: it takes time, nothing else
        dev.polls += 1
        starts[dev.cfg.unit].append(clock.now)
        clock.now += durations[dev.cfg.unit] * (1 + rng.uniform(-jitter, jitter))
        if sum(map(len, starts.values())) >= polls:
            stop.set()

    driver._poll = poll  # type: ignore[method-assign]
    driver.run(stop)
    return driver, starts, clock.now - t0


def test_an_idle_bus_polls_every_unit_on_its_interval_and_skips_nothing() -> None:
    driver, starts, _ = run_on_fake_clock({1: 0.1, 2: 0.1}, {1: 0.01, 2: 0.01}, 200)
    for times in starts.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert gaps == pytest.approx([0.1] * len(gaps))
    assert all(d.skipped == 0 for d in driver.devices)


@pytest.mark.parametrize(
    ("interval", "duration", "units", "jitter"),
    [
        # The harness: 32 TCP units at 20 and 50 ms, polls of 0.5-1.1 ms.
        (0.02, 0.0008, 32, 0.4),
        (0.05, 0.0016, 32, 0.3),
        (0.02, 0.015, 2, 0.0),  # lateness plus the poll exceed an interval
        (0.02, 0.008, 3, 0.2),  # 120 % of the bus
        (0.1, 0.045, 3, 0.1),
        (0.1, 0.15, 1, 0.0),  # a single poll longer than its own interval
    ],
)
def test_a_saturated_bus_skips_slots_and_never_polls_a_unit_twice_at_once(
    interval: float, duration: float, units: int, jitter: float
) -> None:
    ids = range(1, units + 1)
    driver, starts, elapsed = run_on_fake_clock(
        dict.fromkeys(ids, interval), dict.fromkeys(ids, duration), 3000, jitter
    )
    for unit, times in starts.items():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= interval / 2 - 1e-9, f"unit {unit} polled again after {min(gaps)} s"
    skipped = sum(d.skipped for d in driver.devices)
    assert skipped > 0, "a saturated bus must skip polls"
    # Every slot is either polled or skipped: none is lost from the count, none queued.
    for d in driver.devices:
        slots = elapsed / interval
        assert abs(d.polls + d.skipped - slots) <= 2, (d.polls, d.skipped, slots)
    diag = driver.diagnostics()
    assert diag["polls_skipped"] == skipped
    assert sum(x["skipped"] for x in diag["devices"].values()) == skipped


def test_a_poll_late_by_most_of_an_interval_stands_for_the_next_slot() -> None:
    # Due at 0, started 0.09 s late and took 0.02 s: the old rule set the next due time to
    # 0.1 s, already past when the poll ended, and polled the unit again at once.
    assert next_slot(0.0, 0.1, 0.09, 0.11) == pytest.approx((0.2, 1))
    assert next_slot(0.0, 0.1, 0.02, 0.03) == pytest.approx((0.1, 0))
    assert next_slot(0.0, 0.1, 0.0, 0.35) == pytest.approx((0.4, 3))  # a poll of 3.5 slots
