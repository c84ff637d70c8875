"""``bench modbus``: (a) RTU at 9600 baud with line timing, 32 devices: transactions/s as a
fraction of what the wire allows; (b) TCP, 32 units x 8 registers as fast as possible through
the pipeline and encrypted store: datapoints stored per second and CPU%.
"""

from __future__ import annotations

import os
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from box.alarms.engine import AlarmEngine
from box.bench import Step, quiet
from box.config.schema import BoxConfigBase, StoreSection
from box.runtime.logs import CoreLog
from box.runtime.pipeline import Pipeline
from box.store.writer import StoreWriter
from drivers.modbus.driver import DeviceConfig, ModbusDriver, ModbusDriverConfig, exchange_s
from drivers.modbus.profiles import Profile, shipped
from sim.modbus_slave import DeviceSim, PtySlave, Slave, TcpSlave

BENCH_PROFILE = Profile.model_validate(
    {
        "name": "bench-8",
        "points": [{"name": f"r{i}", "address": i, "type": "uint16"} for i in range(8)],
    }
)


def _config(devices: list[DeviceConfig], **bus: Any) -> ModbusDriverConfig:
    # model_construct: the bench polls as fast as it can, beyond the 0.01 s floor of a config.
    fields = {
        "type": "modbus",
        "name": "bench",
        "enabled": True,
        "port": None,
        "host": None,
        "tcp_port": 502,
        "baudrate": 9600,
        "parity": "N",
        "stopbits": 1,
        "timeout_s": 1.0,
        "retries": 0,
        "devices": devices,
    }
    return ModbusDriverConfig.model_construct(**{**fields, **bus})


def _device(
    unit: int, profile: Profile, channels: dict[str, str], interval_s: float
) -> DeviceConfig:
    # model_construct skips the validation that attaches the profile; attach it here, so the
    # driver runs this one (the bench profile is not in any profiles folder).
    device = DeviceConfig.model_construct(
        unit=unit, profile=profile.name, interval_s=interval_s, channels=channels, ma_ranges={}
    )
    device._profile = profile
    return device


def _run(driver: ModbusDriver, seconds: float) -> float:
    stop = threading.Event()
    driver.start()
    t = threading.Thread(target=driver.run, args=(stop,))
    started = time.perf_counter()
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join(10)
    driver.stop()
    return time.perf_counter() - started


def rtu(seconds: float, baud: int = 9600, units: int = 32) -> dict[str, Any]:
    probe = shipped()["generic-gas-probe"]
    slave = Slave([DeviceSim(probe, u) for u in range(1, units + 1)], baud=baud)
    pty = PtySlave(slave).start()
    try:
        devices = [
            _device(u, probe, {"concentration": f"c{u}"}, 0.001) for u in range(1, units + 1)
        ]
        drv = ModbusDriver(_config(devices, port=pty.path, baudrate=baud), lambda b: None)
        elapsed = _run(drv, seconds)
    finally:
        pty.stop()
    polls = sum(d.polls for d in drv.devices)
    errors = sum(sum(d.errors.values()) for d in drv.devices)
    limit = 1 / exchange_s(baud, 5)
    return {
        "rtu_transactions_per_s": round(polls / elapsed, 1),
        "rtu_wire_limit_per_s": round(limit, 1),
        "rtu_wire_efficiency": round(polls / elapsed / limit, 3),
        "rtu_errors": errors,
    }


def tcp(seconds: float, units: int = 32) -> dict[str, Any]:
    slave = Slave([DeviceSim(BENCH_PROFILE, u) for u in range(1, units + 1)])
    server = TcpSlave(slave).start()
    devices = [
        _device(u, BENCH_PROFILE, {f"r{i}": f"u{u}.r{i}" for i in range(8)}, 0.0001)
        for u in range(1, units + 1)
    ]
    with tempfile.TemporaryDirectory(prefix="safetybox-bench-") as tmp:
        writer = StoreWriter(Path(tmp) / "b.db", os.urandom(32), StoreSection())
        engine = AlarmEngine(BoxConfigBase(), writer.submit_event)
        pipeline = Pipeline(engine, writer)
        writer.start()
        core_log = CoreLog()  # as in the daemon: log lines leave the core thread
        core_log.start()
        pipeline.start()
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            drv = ModbusDriver(
                _config(devices, host="127.0.0.1", tcp_port=server.port), pipeline.submit
            )
            elapsed = _run(drv, seconds)
        finally:
            server.stop()
        pipeline.stop()
        core_log.stop()
        writer.flush(60)
        after = resource.getrusage(resource.RUSAGE_SELF)
        stored = writer.stats.committed_readings
        writer.stop()
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / elapsed * 100
    return {
        "tcp_datapoints_per_s": round(stored / elapsed),
        "tcp_cpu_percent": round(cpu, 1),
        "tcp_stored": stored,
    }


PHASES = ("RTU at 9600 baud", "TCP")


def run(seconds: float = 10.0, step: Step = quiet) -> dict[str, Any]:
    step(PHASES[0])
    rtu_result = rtu(seconds)
    step(PHASES[1])
    return {"bench": "modbus", **rtu_result, **tcp(seconds)}
