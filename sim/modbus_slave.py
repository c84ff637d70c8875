"""A Modbus slave that serves any device profile, over a pseudo-terminal (RTU) or TCP.

Scenarios drive the value (steady with noise, drift, slow leak ramp, sudden release, fault
bits, warm-up, calibration; a fault code from the profile's code table); the device's own
alarm bits follow the value against its setpoints (``A1``/``A2`` registers), and ``word_swap``
serves 2-register values in the other word order than the profile declares (a wrong-word-order
field install: the device is right, the profile is not); fault injection
corrupts the line (no answer, late answer, CRC errors, exception codes, stray bytes). With
``baud`` set, each frame is delayed by its wire time, so bus throughput can be measured
honestly. Binds to loopback only.
"""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from drivers.modbus.datatypes import LEGALITY, DataType, decode, encode
from drivers.modbus.profiles import ALARM_FLAGS, FaultCodes, Profile, Setpoint

Scenario = Literal["steady", "drift", "leak", "release", "fault", "warmup", "calibration"]


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + struct.pack("<H", crc16(frame))


@dataclass
class Faults:
    no_answer: float = 0.0  # probability
    late_s: float = 0.0
    crc_error: float = 0.0
    exception: int = 0  # answer every request with this exception code
    stray_bytes: float = 0.0  # probability of junk before an answer
    split: bool = False  # send answers a byte at a time (a slow USB adapter, a busy line)
    rng: random.Random = field(default_factory=lambda: random.Random(7))


def _address_spaces(p: Profile) -> dict[int, set[int]]:
    """Registers that exist on this device, per function code (3 holding, 4 input). A read of
    any other address gets exception 2, as on a real device."""
    spaces: dict[int, set[int]] = {3: set(), 4: set()}
    for pt in p.points:
        spaces[pt.function].update(range(pt.address, pt.address + pt.registers()))
        for extra in (pt.decimals_register, pt.unit_code_register):
            if extra is not None:
                spaces[pt.function].add(extra)
    if p.status:
        spaces[p.status.function].add(p.status.address)
    for s in p.setpoints:
        spaces[3].update(
            range(s.address, s.address + (2 if s.type in ("int32", "uint32", "float32") else 1))
        )
    for c in p.commands:
        spaces[3].update(range(c.address, c.address + len(c.values)))
    for f in p.fault_codes:
        spaces[f.function].add(f.address)
    for check in p.identify:
        spaces[check.function].add(check.address)
    # Real devices expose a contiguous map: everything between the first and last register.
    return {
        fc: set(range(min(regs), max(regs) + 1)) if regs else set() for fc, regs in spaces.items()
    }


class DeviceSim:
    """One unit: a register space filled from its profile and a scenario."""

    def __init__(
        self,
        profile: Profile,
        unit: int,
        scenario: Scenario = "steady",
        base: float = 10.0,
        seed: int = 0,
        fault_code: int | None = None,
        word_swap: bool = False,
        setpoints: dict[str, float] | None = None,
        noise: float = 0.005,
    ) -> None:
        self.noise = noise  # steady scenario: gaussian, as a fraction of the base value
        self.profile = profile
        self.word_swap = word_swap
        self.unit = unit
        self.scenario = scenario
        # Served in every fault-code register (within its mask); None: the scenario decides.
        self.fault_code = fault_code
        self.base = base
        self.rng = random.Random(seed or unit)
        self.registers: dict[int, int] = {}
        self.started = time.monotonic()
        self.value_override: float | None = None
        self.spaces = _address_spaces(profile)
        for name, sp_value in (setpoints or {}).items():
            self.set_setpoint(name, sp_value)
        self.update()

    def _setpoint(self, name: str) -> Setpoint:
        for s in self.profile.setpoints:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.profile.setpoints) or "none"
        raise ValueError(f"profile {self.profile.name} has no setpoint {name!r} (known: {known})")

    def set_setpoint(self, name: str, value: float) -> None:
        """Store a setpoint as the device would after ``sensors set``."""
        s = self._setpoint(name)
        words = encode(value / s.scale, s.type, s.word_order or "big")
        for i, w in enumerate(words):
            self.registers[s.address + i] = w

    def setpoint_value(self, s: Setpoint) -> float:
        n = LEGALITY[s.type].registers
        words = [self.registers.get(s.address + i, 0) for i in range(n)]
        return (decode(words, s.type, s.word_order or "big") or 0.0) * s.scale

    def _alarm_bits(self, value: float) -> int:
        """The device's own alarm bits: a1/a2 set while the value is at or above the setpoint
        of the same name (A1, A2). A setpoint that reads 0 is not armed."""
        st = self.profile.status
        word = 0
        if st is None:
            return word
        by_name = {s.name.lower(): s for s in self.profile.setpoints}
        for flag in ALARM_FLAGS:
            sp = by_name.get(flag)
            if flag in st.bits and sp is not None:
                limit = self.setpoint_value(sp)
                if limit > 0 and value >= limit:
                    word |= 1 << st.bits[flag]
        return word

    def value_at(self, t: float) -> float:
        s, b = self.scenario, self.base
        if self.value_override is not None:
            return self.value_override
        if s == "drift":
            return b + 0.05 * t
        if s == "leak":
            return b + max(0.0, t - 5) * 0.5
        if s == "release":
            return b if t < 5 else b * 8
        return b + self.rng.gauss(0, b * self.noise) if self.noise else b

    def update(self) -> None:
        t = time.monotonic() - self.started
        value = self.value_at(t)
        p = self.profile
        for point in p.points:
            decimals = 1 if point.type == DataType.SCALED else 0
            raw = (value - point.offset) / point.scale
            if point.type == DataType.SCALED:
                self.registers[point.decimals_register or 0] = decimals
                raw = value * 10**decimals
            if point.unit_code_register is not None:
                self.registers[point.unit_code_register] = 4  # %LEL
            dtype = DataType.INT16 if point.type == DataType.SCALED else point.type
            if dtype == DataType.UINT16:
                raw = max(0, min(65535, raw))
            order = point.word_order or "big"
            if self.word_swap and point.registers() == 2:  # the device disagrees with its profile
                order = "little" if order == "big" else "big"
            words = encode(raw, dtype, order, point.byte_order)
            for i, w in enumerate(words):
                self.registers[point.address + i] = w
        if p.status:
            word = self._alarm_bits(value)
            bits = p.status.bits
            if self.scenario == "fault":
                word |= 1 << bits["fault"] if "fault" in bits else p.status.fault_mask & 0x0010
            if self.scenario == "warmup" and t < 10 and "warmup" in bits:
                word |= 1 << bits["warmup"]
            if self.scenario == "calibration" and "calibration" in bits:
                word |= 1 << bits["calibration"]
            if "heartbeat" in bits and int(t / 2) % 2:
                word |= 1 << bits["heartbeat"]
            self.registers[p.status.address] = word
        for table in p.fault_codes:
            code = self._code_for(table, t)
            shift = (table.mask & -table.mask).bit_length() - 1
            self.registers[table.address] = code << shift & table.mask
        for check in p.identify:
            self.registers.setdefault(check.address, check.min)

    def _code_for(self, table: FaultCodes, t: float) -> int:
        """The code a fault-code register reads: the one asked for, else the scenario's."""
        if self.fault_code is not None:
            return self.fault_code
        ok = table.ok[0] if table.ok else 0
        if self.scenario == "fault" and table.codes:
            return min(table.codes)
        if self.scenario == "warmup" and t < 10 and table.warmup:
            return table.warmup[0]
        if self.scenario == "calibration" and table.calibration:
            return table.calibration[0]
        return ok

    def read(self, address: int, count: int) -> list[int] | None:
        self.update()
        return [self.registers.get(a, 0) for a in range(address, address + count)]

    def write(self, address: int, values: list[int]) -> None:
        for i, v in enumerate(values):
            self.registers[address + i] = v


class Slave:
    """Answers requests for several units; the transport calls :meth:`answer`."""

    def __init__(
        self, devices: list[DeviceSim], faults: Faults | None = None, baud: int | None = None
    ) -> None:
        self.devices = {d.unit: d for d in devices}
        self.faults = faults or Faults()
        self.baud = baud
        self.requests = 0
        # (monotonic time, unit) of the latest requests: how often each unit is really polled.
        self.request_log: deque[tuple[float, int]] = deque(maxlen=10_000)

    def answer(self, unit: int, pdu: bytes) -> bytes | None:
        """The response PDU (without address/CRC), or None for no answer."""
        self.requests += 1
        self.request_log.append((time.monotonic(), unit))
        dev = self.devices.get(unit)
        f = self.faults
        if dev is None or f.rng.random() < f.no_answer:
            return None
        fc = pdu[0]
        if f.exception:
            return bytes([fc | 0x80, f.exception])
        if fc in (3, 4) and len(pdu) == 5:
            address, count = struct.unpack(">HH", pdu[1:5])
            if not 1 <= count <= 125:
                return bytes([fc | 0x80, 3])
            if not set(range(address, address + count)) <= dev.spaces[fc]:
                return bytes([fc | 0x80, 2])  # illegal data address
            words = dev.read(address, count)
            return bytes([fc, 2 * count]) + b"".join(struct.pack(">H", w) for w in words or [])
        if fc == 6 and len(pdu) == 5:
            address, value = struct.unpack(">HH", pdu[1:5])
            dev.write(address, [value])
            return pdu
        if fc == 16 and len(pdu) >= 6:
            address, count, nbytes = struct.unpack(">HHB", pdu[1:6])
            values = list(struct.unpack(f">{count}H", pdu[6 : 6 + nbytes]))
            dev.write(address, values)
            return pdu[:5]
        return bytes([fc | 0x80, 1])  # illegal function

    def wire_delay(self, nbytes: int) -> None:
        if self.baud:
            time.sleep(nbytes * 11 / self.baud)  # 11 bits a character (start, 8, parity, stop)


def request_length(buf: bytes) -> int | None:
    """Length of the RTU request at the start of ``buf`` (None: need more bytes)."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (3, 4, 6):
        return 8
    if fc == 16:
        return 9 + buf[6] if len(buf) >= 7 else None
    return 8  # unknown function: assume the common length; the CRC check will judge


def parse_rtu(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete, CRC-valid request off the front of ``buf``; junk is skipped byte by
    byte until a valid frame lines up (how a real slave resynchronises)."""
    out: list[tuple[int, bytes]] = []
    while True:
        n = request_length(bytes(buf))
        if n is None or len(buf) < n:
            return out
        frame = bytes(buf[:n])
        if crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]:
            out.append((frame[0], frame[1:-2]))
            del buf[:n]
        else:
            del buf[0]


class PtySlave:
    """RTU over a pseudo-terminal pair: the driver opens ``path``, we serve the master side."""

    def __init__(self, slave: Slave) -> None:
        import tty

        self.slave = slave
        self.master, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.path = os.ttyname(self._slave_fd)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-pty", daemon=True)

    def start(self) -> PtySlave:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self._slave_fd)

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                buf += os.read(self.master, 4096)
            except OSError:
                continue
            for unit, pdu in parse_rtu(buf):
                self.slave.wire_delay(len(pdu) + 3)
                reply = self.slave.answer(unit, pdu)
                if reply is None:
                    continue
                frame = with_crc(bytes([unit]) + reply)
                f = self.slave.faults
                if f.rng.random() < f.crc_error:
                    frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
                if f.rng.random() < f.stray_bytes:
                    frame = b"\x00\xff" + frame
                if f.late_s:
                    time.sleep(f.late_s)
                self.slave.wire_delay(len(frame))
                if f.split:
                    for i in range(len(frame)):
                        os.write(self.master, frame[i : i + 1])
                        time.sleep(0.0005)
                else:
                    os.write(self.master, frame)


class TcpSlave:
    """Modbus TCP (MBAP) on 127.0.0.1."""

    def __init__(self, slave: Slave, port: int = 0) -> None:
        self.slave = slave
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, name="sim-tcp", daemon=True)

    def start(self) -> TcpSlave:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)  # accept() wakes every 0.1 s; closing under it raised EBADF
        self.server.close()
        for t in self._threads:
            t.join(5)

    def _accept(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buf = b""
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while len(buf) >= 7:
                    tid, proto, length, unit = struct.unpack(">HHHB", buf[:7])
                    if len(buf) < 6 + length:
                        break
                    pdu, buf = buf[7 : 6 + length], buf[6 + length :]
                    reply = self.slave.answer(unit, pdu)
                    if reply is None:
                        continue
                    if self.slave.faults.late_s:
                        time.sleep(self.slave.faults.late_s)
                    conn.sendall(struct.pack(">HHHB", tid, proto, len(reply) + 1, unit) + reply)
