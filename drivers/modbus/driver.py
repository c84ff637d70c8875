"""The ``modbus`` driver: one bus (RTU over a serial port, or TCP), several devices on it.

One thread owns the bus and serialises every transaction (so frames never overlap).
Each device is polled on its own interval; a poll that falls due while the bus is busy is
skipped and counted, never queued (schedule.py). Polls faster than 10 Hz are accepted on TCP,
and on RS-485 only where the bus-load estimate says the line carries them. Readings are
stamped at the time of the read. A failed, implausible or fault-flagged read gives bad quality
and no value, with a reason in words ("warming up", "sensor open circuit", "replies arrive but
fail CRC: ...") that travels with the reading to the fault alarm; the port is reopened when it
comes back. The last raw frames stay in a ring buffer for diagnostics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from box.core.model import FieldProblem, StrictModel
from box.core.records import Quality, Reading, now_ms
from drivers.base import Driver, DriverConfig
from drivers.modbus.datatypes import DataType, decode
from drivers.modbus.device_status import device_alarm, device_status, point_status
from drivers.modbus.line_faults import RxWatch, describe
from drivers.modbus.profiles import UNIT_CODES, Point, Profile, load_profiles
from drivers.modbus.schedule import next_slot
from drivers.modbus.serial_open import serial_open_error, settings_text, tcp_open_error

log = logging.getLogger(__name__)
# pymodbus logs every timeout at ERROR: on a flaky bus that floods the SD card. The driver
# counts errors per device and logs entering and leaving an error state once (below).
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

NE43_FAULT_LOW, NE43_FAULT_HIGH = 3.6, 21.0
NE43_SAT_LOW, NE43_SAT_HIGH = 3.8, 20.5
RECONNECT_S = 0.5
RS485_FLOOR_S = 0.1  # 10 Hz: the guidance for RS-485; faster only where the line has room
BUS_LOAD_LIMIT = 0.9  # of the line's time; beyond it polls are skipped (and a warning logged)
MAX_BLOCK = 125


PROFILES_DIR = "profiles_dir"  # validation context key: the box's own profiles folder


BOX_DIR = "box_dir"  # the same key as box.config.loader.BOX_DIR (drivers sit below config)


def profiles_for(context: dict[str, Any] | None) -> dict[str, Profile]:
    """Shipped profiles plus the box's own, by name. The folder comes from the validation
    context: ``profiles_dir``, or ``profiles/`` in ``box_dir`` (the folder of box.toml);
    without either, from the box home the process was started for."""
    ctx = context or {}
    folder = ctx.get(PROFILES_DIR)
    if folder is None and ctx.get(BOX_DIR) is not None:
        folder = Path(ctx[BOX_DIR]) / "profiles"
    if folder is None:
        from box.paths import BoxHome

        folder = BoxHome.resolve().profiles_dir
    return load_profiles(Path(folder))


class DeviceConfig(StrictModel):
    unit: int = Field(ge=1, le=247)
    profile: str
    interval_s: float = Field(
        default=1.0,
        ge=0.01,
        le=3600,
        description="seconds between polls; below 0.1 s on RS-485 only when the line has room",
    )
    channels: dict[str, str] = Field(min_length=1, description="profile point -> channel id")
    ma_ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="point -> engineering range of its 4-20 mA loop"
    )
    # The profile this device was validated against, so the driver runs exactly that one.
    _profile: Profile | None = PrivateAttr(default=None)


class ModbusDriverConfig(DriverConfig):
    type: Literal["modbus"]
    port: str | None = Field(default=None, description="serial device, e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    host: str | None = Field(default=None, description="Modbus TCP device or gateway")
    tcp_port: int = Field(default=502, ge=1, le=65535)
    timeout_s: float = Field(default=0.5, gt=0, le=30)
    retries: int = Field(default=1, ge=0, le=5)
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _checks(self, info: ValidationInfo) -> ModbusDriverConfig:
        # FieldProblem: each error names the key inside the driver table, not the table.
        if self.port is None and self.host is None:
            raise FieldProblem((), "give exactly one of port (RTU) or host (TCP)")
        if self.port is not None and self.host is not None:
            raise FieldProblem(("host",), "give exactly one of port (RTU) or host (TCP)")
        known = profiles_for(info.context)
        seen: dict[int, int] = {}
        for i, d in enumerate(self.devices):
            p = known.get(d.profile)
            if p is None:
                raise FieldProblem(
                    ("devices", i, "profile"),
                    f"unit {d.unit}: unknown profile {d.profile!r}; "
                    f"known: {', '.join(sorted(known))}",
                )
            d._profile = p
            points = {pt.name for pt in p.points}
            unknown = set(d.channels) - points
            if unknown:
                raise FieldProblem(
                    ("devices", i, "channels"),
                    f"unit {d.unit}: profile {p.name} has no point(s) {sorted(unknown)}",
                )
            if d.unit in seen:
                raise FieldProblem(
                    ("devices", i, "unit"),
                    f"unit ids must be unique on a bus: also devices[{seen[d.unit]}]",
                )
            seen[d.unit] = i
        self._check_poll_floor()
        return self

    def _check_poll_floor(self) -> None:
        """Polls faster than 10 Hz: always on TCP (the network carries them); on RS-485 only
        when the bus-load estimate of every configured poll fits the line."""
        fast = [i for i, d in enumerate(self.devices) if d.interval_s < RS485_FLOOR_S]
        if not self.port or not fast:
            return
        load = line_load(
            self.baudrate, [(_blocks(d._profile), d.interval_s) for d in self.devices if d._profile]
        )
        if load > BUS_LOAD_LIMIT:
            i = fast[0]
            raise FieldProblem(
                ("devices", i, "interval_s"),
                f"bus {self.name!r}: unit {self.devices[i].unit} polled every "
                f"{self.devices[i].interval_s} s needs a line with room for it, but the bus-load "
                f"estimate of all polls on {self.port} at {self.baudrate} baud is "
                f"{load:.0%} (limit {BUS_LOAD_LIMIT:.0%}); use interval_s >= {RS485_FLOOR_S}, "
                "fewer fast devices or a higher baud rate",
            )

    def channel_ids(self) -> list[str]:
        return [c for d in self.devices for c in d.channels.values()]

    def channel_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [
            (("devices", i, "channels", point), channel)
            for i, d in enumerate(self.devices)
            for point, channel in d.channels.items()
        ]


def exchange_s(baudrate: int, count: int) -> float:
    """Wire time of one read of ``count`` registers: request (8 bytes), response (5 + 2n),
    11 bits a character, plus two 3.5-character gaps."""
    return (8 + 5 + 2 * count + 7) * 11 / baudrate


def line_load(baudrate: int, polls: list[tuple[list[tuple[int, int, int]], float]]) -> float:
    """Fraction of an RS-485 line's time that polls of these (read blocks, interval) need."""
    return sum(sum(exchange_s(baudrate, n) for _, _, n in b) / every for b, every in polls)


def bus_load(cfg: ModbusDriverConfig, devices: list[DeviceState]) -> float:
    """Fraction of an RS-485 line's time the configured polls need (0 for TCP)."""
    if not cfg.port:
        return 0.0
    return line_load(cfg.baudrate, [(d.blocks, d.cfg.interval_s) for d in devices])


class DeviceState:
    def __init__(self, cfg: DeviceConfig, profile: Profile) -> None:
        self.cfg = cfg
        self.profile = profile
        self.blocks = _blocks(profile)
        self.polls = 0
        self.skipped = 0
        self.errors: dict[str, int] = {"timeout": 0, "crc": 0, "exception": 0, "decode": 0}
        self.last_error = ""
        self.status = "not polled yet"  # what the device is doing, in words
        self.heartbeat: tuple[int, float] | None = None  # (bit value, when it last changed)
        self.heartbeat_stopped = False
        self.in_error = False
        self.units: dict[str, str] = {}  # point -> unit the device reports (unit-code register)
        self.registers: dict[tuple[int, int], int] = {}  # the last good poll's words


def _blocks(profile: Profile) -> list[tuple[int, int, int]]:
    """Contiguous reads (function, start, count) covering every register the profile needs."""
    need: dict[int, set[int]] = {}
    for p in profile.points:
        regs = need.setdefault(p.function, set())
        regs.update(range(p.address, p.address + p.registers()))
        for extra in (p.decimals_register, p.unit_code_register):
            if extra is not None:
                regs.add(extra)
    if profile.status:
        need.setdefault(profile.status.function, set()).add(profile.status.address)
    for f in profile.fault_codes:
        need.setdefault(f.function, set()).add(f.address)
    blocks = []
    for fc, regs in sorted(need.items()):
        ordered = sorted(regs)
        start = prev = ordered[0]
        for r in ordered[1:]:
            if r - start >= MAX_BLOCK:  # a read may cover at most 125 registers
                blocks.append((fc, start, prev - start + 1))
                start = r
            prev = r
        blocks.append((fc, start, prev - start + 1))
    return blocks


class ModbusDriver(Driver):
    type_key = "modbus"
    config_model = ModbusDriverConfig
    config: ModbusDriverConfig

    def start(self) -> None:
        cfg = self.config
        profiles = None if all(d._profile for d in cfg.devices) else profiles_for(None)
        self.devices = [
            DeviceState(d, d._profile or profiles[d.profile])  # type: ignore[index]
            for d in cfg.devices
        ]
        self.frames: deque[tuple[float, str, str]] = deque(maxlen=64)
        self.rx = RxWatch(self._trace)
        self.connected = False
        self.port_error = ""
        self.bus_load = bus_load(cfg, self.devices)
        if self.bus_load > BUS_LOAD_LIMIT:
            log.warning(
                "modbus %s: the configured polls need %.0f %% of the line at %d baud; "
                "polls will be skipped (raise intervals or baud rate)",
                cfg.name,
                self.bus_load * 100,
                cfg.baudrate,
            )
        self.client = self._make_client()

    def _trace(self, sending: bool, data: bytes) -> bytes:
        self.frames.append((time.time(), "tx" if sending else "rx", data.hex(" ")))
        return data

    def _make_client(self) -> Any:
        cfg = self.config
        if cfg.port:
            return ModbusSerialClient(
                cfg.port,
                baudrate=cfg.baudrate,
                parity=cfg.parity,
                stopbits=cfg.stopbits,
                timeout=cfg.timeout_s,
                retries=0,
                reconnect_delay=0,
                trace_packet=self.rx,
            )
        return ModbusTcpClient(
            cfg.host or "",
            port=cfg.tcp_port,
            timeout=cfg.timeout_s,
            retries=0,
            reconnect_delay=0,
            trace_packet=self.rx,
        )

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def diagnostics(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "port_error": self.port_error,
            "bus_load": round(self.bus_load, 3),
            "polls_skipped": sum(d.skipped for d in self.devices),
            "devices": {
                d.cfg.unit: {
                    "status": d.status,
                    "polls": d.polls,
                    "skipped": d.skipped,
                    "errors": d.errors,
                    "last_error": d.last_error,
                    "units": d.units,
                    # The words of the last good poll, for `sensors verify` through the box.
                    "registers": {f"{fc}:{a}": w for (fc, a), w in sorted(d.registers.items())},
                }
                for d in self.devices
            },
            "last_frames": list(self.frames)[-10:],
        }

    # The bus thread's clock and its wait, apart so the schedule can be tested on a fake clock.
    clock = staticmethod(time.monotonic)

    @staticmethod
    def pause(stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)

    def run(self, stop: threading.Event) -> None:
        spread = min(d.cfg.interval_s for d in self.devices) / max(1, len(self.devices))
        start = self.clock()
        due = {id(d): start + i * spread for i, d in enumerate(self.devices)}
        while not stop.is_set():
            if not self.connected and not self._connect(stop):
                continue
            dev = min(self.devices, key=lambda d: due[id(d)])
            wait = due[id(dev)] - self.clock()
            if wait > 0 and self.pause(stop, wait):
                return
            started = self.clock()
            self._poll(dev)
            # Slots that passed while the bus was busy (before or during this poll) are
            # skipped and counted, never queued: see schedule.py.
            due[id(dev)], skipped = next_slot(
                due[id(dev)], dev.cfg.interval_s, started, self.clock()
            )
            dev.skipped += skipped

    def _connect(self, stop: threading.Event) -> bool:
        try:
            self.connected = bool(self.client.connect())
        except Exception as exc:  # noqa: BLE001 - any open failure: report, retry
            self.connected = False
            log.debug("modbus %s: open failed: %s", self.config.name, exc)
        if not self.connected:
            self.port_error = self._open_error()
            for d in self.devices:
                d.last_error = d.status = self.port_error
                self._emit_bad(d)
            stop.wait(RECONNECT_S)
        else:
            self.port_error = ""
        return self.connected

    def _open_error(self) -> str:
        """The operating system's reason the port or host does not open (pymodbus keeps it)."""
        cfg = self.config
        if cfg.port:
            err = serial_open_error(cfg.port, cfg.baudrate, cfg.parity, cfg.stopbits)
            where = f"{cfg.port} at {settings_text(cfg.baudrate, cfg.parity, cfg.stopbits)}"
        else:
            err = tcp_open_error(cfg.host or "", cfg.tcp_port, cfg.timeout_s)
            where = f"{cfg.host}:{cfg.tcp_port}"
        return f"cannot open {where}: {err or 'it opened on a second try; retrying'}"

    def _read(self, dev: DeviceState, fc: int, start: int, count: int) -> list[int] | None:
        fn = self.client.read_holding_registers if fc == 3 else self.client.read_input_registers
        # The inter-frame gap: pymodbus's serial client ends each response only after about four
        # character times of silence, which is already the >= 3.5 characters the next request
        # must wait; the one bus thread never starts a frame before the last one ended.
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(0.05 * 2**attempt, 0.4))  # back off before retrying
            self.rx.begin()
            try:
                result = fn(start, count=count, device_id=dev.cfg.unit)
            except ModbusException:
                kind = self.rx.failure()  # silence, or bytes that never made a valid frame
                dev.errors[kind] += 1
                dev.last_error = describe(kind, dev.cfg.unit, self.config.timeout_s, attempts)
                if not self.client.connected:
                    self.connected = False
                    return None
                continue
            if result.isError():
                dev.errors["exception"] += 1
                code = getattr(result, "exception_code", "?")
                dev.last_error = f"exception response {code} to a read at {start}"
                return None  # a device's refusal is not retried
            return list(result.registers)
        return None

    def _poll(self, dev: DeviceState) -> None:
        dev.polls += 1
        regs: dict[tuple[int, int], int] = {}
        for fc, start, count in dev.blocks:
            words = self._read(dev, fc, start, count)
            if words is None or len(words) != count:
                self._emit_bad(dev)
                return
            regs.update({(fc, start + i): w for i, w in enumerate(words)})
        for p in dev.profile.points:  # the unit the device says it measures in
            if p.unit_code_register is not None:
                code = regs.get((p.function, p.unit_code_register), 0)
                dev.units[p.name] = UNIT_CODES[code] if code < len(UNIT_CODES) else f"code {code}"
        ts = now_ms()  # the time of the read, not of later processing
        if dev.in_error:
            dev.in_error = False
            log.info("modbus %s unit %d: answering again", self.config.name, dev.cfg.unit)
        not_measuring = self._status(dev, regs)  # per point: why it has no value now
        dev.registers = regs
        # The device's own alarm bits, whatever its value decodes to: the engine's defence
        # against a profile that decodes nonsense (wrong word order, scale or unit).
        alarm_point = dev.profile.device_alarm_point()
        alarm = device_alarm(dev.profile, regs)
        batch = []
        for point in dev.profile.points:
            channel = dev.cfg.channels.get(point.name)
            if channel is None:
                continue
            own = alarm if point.name == alarm_point else None
            if not_measuring.get(point.name):
                batch.append(
                    Reading(channel, ts, None, Quality.BAD, not_measuring[point.name], own)
                )
                continue
            value, quality = self._value(dev, point, regs)
            reason = dev.last_error if quality == Quality.BAD else ""
            batch.append(Reading(channel, ts, value, quality, reason, own))
        self.sink(batch)

    def _status(self, dev: DeviceState, regs: dict[tuple[int, int], int]) -> dict[str, str]:
        """Per point, why it is not measured now ("warming up", "sensor open circuit", ...),
        or "" when it is: the profile says which points each status flag blanks."""
        dev.heartbeat_stopped = False
        st = dev.profile.status
        if st is not None and "heartbeat" in st.bits:
            word = regs.get((st.function, st.address), 0)
            bit = word >> st.bits["heartbeat"] & 1
            now = time.monotonic()
            if dev.heartbeat is None or dev.heartbeat[0] != bit:
                dev.heartbeat = (bit, now)
            dev.heartbeat_stopped = now - dev.heartbeat[1] > dev.profile.heartbeat_timeout_s
        overall = device_status(dev.profile, regs, dev.heartbeat_stopped)
        dev.status = overall or "measuring"
        if not overall:
            return dict.fromkeys(dev.cfg.channels, "")
        dev.last_error = overall
        return point_status(dev.profile, regs, dev.heartbeat_stopped)

    def _value(
        self, dev: DeviceState, p: Point, regs: dict[tuple[int, int], int]
    ) -> tuple[float | None, Quality]:
        words = [regs[(p.function, p.address + i)] for i in range(p.registers())]
        try:
            if p.type == DataType.SCALED:
                decimals = regs[(p.function, p.decimals_register or 0)]
                if decimals > 4:
                    raise ValueError(f"decimals register reads {decimals} (0..4 expected)")
                raw = decode(words, DataType.INT16)
                value = None if raw is None else raw / 10**decimals
            else:
                value = decode(words, p.type, p.word_order or "big", p.byte_order)
        except (ValueError, KeyError) as exc:
            dev.errors["decode"] += 1
            dev.last_error = f"{p.name}: {exc}"
            return None, Quality.BAD
        if value is None:
            dev.last_error = f"{p.name}: the device sends no number (NaN or infinity)"
            return None, Quality.BAD
        value = value * p.scale + p.offset
        quality = Quality.GOOD
        ma_range = dev.cfg.ma_ranges.get(p.name)
        if ma_range is not None:
            if not NE43_FAULT_LOW <= value <= NE43_FAULT_HIGH:
                dev.last_error = f"{p.name}: loop current {value:.2f} mA (NAMUR NE43 fault band)"
                return None, Quality.BAD
            if not NE43_SAT_LOW <= value <= NE43_SAT_HIGH:
                quality = Quality.UNCERTAIN
            lo, hi = ma_range
            value = lo + (min(max(value, 4.0), 20.0) - 4.0) / 16.0 * (hi - lo)
        if p.valid is not None and not p.valid[0] <= value <= p.valid[1]:
            dev.last_error = f"{p.name}: implausible value {value}"
            return None, Quality.BAD
        return value, quality

    def _emit_bad(self, dev: DeviceState) -> None:
        dev.status = dev.last_error
        if not dev.in_error:
            dev.in_error = True
            log.error("modbus %s unit %d: %s", self.config.name, dev.cfg.unit, dev.last_error)
        ts = now_ms()
        reason = dev.last_error
        self.sink([Reading(ch, ts, None, Quality.BAD, reason) for ch in dev.cfg.channels.values()])
