"""Modbus answers from a device gone mad, into the real driver over Modbus TCP on loopback:
arbitrary register words for every shipped profile (NaN, infinity, absurd decimals, status
and fault words with any bits set) and arbitrary response PDUs. The driver never raises, a
reading without a value is always BAD (with a reason), and a value is always finite."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from box.core.records import Quality, Reading
from drivers.modbus.datatypes import LEGALITY, DataType, decode
from drivers.modbus.driver import ModbusDriver, ModbusDriverConfig
from drivers.modbus.profiles import shipped
from sim.modbus_slave import Slave, TcpSlave
from tests.chaos.fuzzing import chaos_settings

PROFILES = sorted(shipped())
SPECIAL = [0, 1, 4, 5, 0x7FFF, 0x8000, 0xFFFF, 0x7FC0, 0x7F80, 0xFF80, 0x3F80]
words_st = st.integers(min_value=0, max_value=0xFFFF) | st.sampled_from(SPECIAL)


class Scripted(Slave):
    """Answers reads with the words (or the raw PDU) the test sets."""

    def __init__(self) -> None:
        super().__init__([])
        self.words: dict[int, int] = {}
        self.default = 0
        self.raw: bytes | None = None

    def answer(self, unit: int, pdu: bytes) -> bytes | None:
        if self.raw is not None:
            return self.raw or None
        fc = pdu[0]
        address, count = struct.unpack(">HH", pdu[1:5])
        words = [self.words.get(a, self.default) for a in range(address, address + count)]
        return bytes([fc, 2 * count]) + b"".join(struct.pack(">H", w) for w in words)


class Rig:
    def __init__(self) -> None:
        self.slave = Scripted()
        self.tcp = TcpSlave(self.slave).start()
        self.drivers: dict[str, tuple[ModbusDriver, list[list[Reading]]]] = {}

    def driver(self, profile: str) -> tuple[ModbusDriver, list[list[Reading]]]:
        if profile not in self.drivers:
            p = shipped()[profile]
            batches: list[list[Reading]] = []
            cfg = {
                "type": "modbus",
                "name": f"fuzz-{profile}",
                "host": "127.0.0.1",
                "tcp_port": self.tcp.port,
                "timeout_s": 0.2,
                "retries": 0,
                "devices": [
                    {
                        "unit": 1,
                        "profile": profile,
                        "channels": {pt.name: f"c.{pt.name}" for pt in p.points},
                    }
                ],
            }
            d = ModbusDriver(ModbusDriverConfig.model_validate(cfg), batches.append)
            d.start()
            assert d.client.connect()
            d.connected = True
            self.drivers[profile] = (d, batches)
        return self.drivers[profile]

    def poll(self, profile: str) -> list[Reading]:
        d, batches = self.driver(profile)
        batches.clear()
        d._poll(d.devices[0])  # one poll, on this thread: an exception fails the test
        assert len(batches) == 1
        return batches[0]

    def close(self) -> None:
        for d, _ in self.drivers.values():
            d.stop()
        self.tcp.stop()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def check(readings: list[Reading]) -> None:
    for r in readings:
        if r.value is None:
            assert r.quality == Quality.BAD and r.reason, r
        else:
            assert math.isfinite(r.value), r
            assert r.quality < Quality.BAD or r.reason


@chaos_settings()
@given(
    dtype=st.sampled_from(list(DataType)),
    words=st.lists(words_st, min_size=0, max_size=3),
    word_order=st.sampled_from(["big", "little"]),
    byte_order=st.sampled_from(["big", "little"]),
)
def test_decode_gives_a_finite_number_none_or_a_clear_error(
    dtype: DataType, words: list[int], word_order: str, byte_order: str
) -> None:
    if len(words) != LEGALITY[dtype].registers:
        with pytest.raises(ValueError, match="registers"):
            decode(words, dtype, word_order, byte_order)
        return
    value = decode(words, dtype, word_order, byte_order)
    assert value is None or math.isfinite(value)


@chaos_settings()
@given(
    profile=st.sampled_from(PROFILES),
    words=st.dictionaries(st.integers(min_value=0, max_value=64), words_st, max_size=40),
    default=words_st,
)
def test_any_register_words_decode_to_honest_readings(
    rig: Rig, profile: str, words: dict[int, int], default: int
) -> None:
    rig.slave.raw, rig.slave.words, rig.slave.default = None, words, default
    check(rig.poll(profile))


@chaos_settings(examples=max(50, int(chaos_settings().max_examples) // 3))
@given(profile=st.sampled_from(PROFILES), pdu=st.binary(min_size=0, max_size=260))
def test_any_response_pdu_is_survived(rig: Rig, profile: str, pdu: bytes) -> None:
    rig.slave.raw = pdu
    try:
        readings = rig.poll(profile)
    finally:
        rig.slave.raw = None
    check(readings)
    d, _ = rig.driver(profile)
    if not d.client.connected:  # a reply that made pymodbus drop the link: the driver reopens
        assert d.client.connect()
        d.connected = True
