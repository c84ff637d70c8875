"""Every plausible reading of a point's raw registers, side by side, for commissioning.

A wrong word order, type or scale in a profile never fails, it gives a wrong number with good
quality (0.35 %CH4 read as 4.17e-08). ``safetybox sensors verify`` shows the registers decoded
every common way, marks the profile's way, flags the impossible ones, and checks them against a
test gas of known concentration, saying which profile keys would make the reading right.
Pure functions: the registers come from the device or from the running box.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from drivers.modbus.datatypes import DataType, decode
from drivers.modbus.device_status import device_alarm
from drivers.modbus.profiles import UNIT_CODES, Point, Profile

# order name -> (word_order, byte_order), as in docs/PROFILES.md
ORDERS_32 = {
    "ABCD": ("big", "big"),
    "CDAB": ("little", "big"),
    "BADC": ("big", "little"),
    "DCBA": ("little", "little"),
}
ORDERS_16 = {"AB": "big", "BA": "little"}
TYPES_16 = (DataType.INT16, DataType.UINT16)
TYPES_32 = (DataType.INT32, DataType.UINT32, DataType.FLOAT32)
FLOAT_MIN_NORMAL = 1.17549435e-38
# A gas reading's float never needs more than this range; beyond it, bits landed in the wrong
# place (the usual sign of a word-order mistake), not a concentration.
FLOAT_PLAUSIBLE = (1e-6, 1e9)
# Factors that a wrong scale or unit explains, with what each usually means.
FACTORS = {
    10**k: f"scale off by 10^{k}" + (" (ppm vs %VOL is 10^4)" if abs(k) == 4 else "")
    for k in range(-6, 7)
    if k
}
FACTORS |= {20.0: "%LEL vs %VOL of methane (1 %VOL = 20 %LEL)", 0.05: "%VOL vs %LEL of methane"}

Registers = dict[tuple[int, int], int]  # (function, address) -> word


@dataclass(frozen=True)
class Interpretation:
    type: str  # a DataType value: int16 ... float32
    order: str
    raw: float | None  # the decoded number; None for NaN or infinity
    value: float | None  # after the profile's decimals, scale and offset
    current: bool  # the profile's own interpretation
    problem: str  # why it cannot be the reading; "" when plausible

    def keys(self) -> dict[str, str]:
        """The profile keys that give this interpretation."""
        if self.type in TYPES_16:
            return {"type": self.type, "byte_order": ORDERS_16[self.order]}  # type: ignore[index]
        word, byte = ORDERS_32[self.order]
        return {"type": self.type, "word_order": word, "byte_order": byte}


def _problem(dtype: DataType, raw: float | None, value: float | None, point: Point) -> str:
    if raw is None or value is None:
        return "NaN or infinity"
    if dtype == DataType.FLOAT32 and raw != 0:
        if abs(raw) < FLOAT_MIN_NORMAL:
            return "denormal float"
        if not FLOAT_PLAUSIBLE[0] <= abs(raw) <= FLOAT_PLAUSIBLE[1]:
            return f"magnitude {raw:.3g} (typical of a wrong word order)"
    if point.valid is not None and not point.valid[0] <= value <= point.valid[1]:
        return f"outside the profile's valid range {list(point.valid)}"
    return ""


def _is_current(point: Point, dtype: DataType, word: str, byte: str) -> bool:
    declared = DataType.INT16 if point.type == DataType.SCALED else point.type
    return declared == dtype and (point.word_order or "big") == word and point.byte_order == byte


def interpret(
    point: Point, words: list[int], decimals: int | None = None, next_taken: str = ""
) -> list[Interpretation]:
    """``words`` from the point's address on (1 or 2); ``decimals`` for a ``scaled`` point;
    ``next_taken`` says what the word after a 1-register point is in the profile, if anything."""
    divisor = 10 ** (decimals or 0) if point.type == DataType.SCALED else 1
    out = []

    def add(dtype: DataType, order: str, ws: list[int], word: str, byte: str) -> None:
        raw = decode(ws, dtype, word, byte)
        value = None
        if raw is not None:
            value = (raw / divisor if dtype in TYPES_16 else raw) * point.scale + point.offset
        current = _is_current(point, dtype, word, byte)
        problem = _problem(dtype, raw, value, point)
        if not problem and len(ws) > point.registers() and next_taken:
            problem = next_taken  # the profile already gives that register another meaning
        out.append(Interpretation(dtype.value, order, raw, value, current, problem))

    for dtype in TYPES_16:
        for order, byte in ORDERS_16.items():
            add(dtype, order, words[:1], "big", byte)
    if len(words) >= 2:
        for dtype in TYPES_32:
            for order, (word, byte) in ORDERS_32.items():
                add(dtype, order, words[:2], word, byte)
    return out


def taken_by(profile: Profile, point: Point) -> str:
    """What the profile says the register after a 1-register point holds ("" if nothing): a
    32-bit reading that swallows the status word is a coincidence, not a fix."""
    fc, nxt = point.function, point.address + 1
    if point.registers() != 1:
        return ""
    for other in profile.points:
        if other.function == fc and other.address <= nxt < other.address + other.registers():
            return f"register {nxt} is point {other.name} in the profile"
        if fc == other.function and nxt in (other.decimals_register, other.unit_code_register):
            return f"register {nxt} is a decimals or unit-code register in the profile"
    if profile.status and (profile.status.function, profile.status.address) == (fc, nxt):
        return f"register {nxt} is the status word in the profile"
    if any((f.function, f.address) == (fc, nxt) for f in profile.fault_codes):
        return f"register {nxt} is a fault-code register in the profile"
    return ""


def point_words(point: Point, regs: Registers) -> list[int]:
    """The point's words, and the next one when it was read (a 1-register point may really
    be half of a 32-bit value)."""
    words = []
    for i in range(max(2, point.registers())):
        w = regs.get((point.function, point.address + i))
        if w is None:
            break
        words.append(w)
    return words


def _close(value: float | None, target: float, tolerance_pct: float) -> bool:
    if value is None:
        return False
    allowed = abs(target) * tolerance_pct / 100 if target else tolerance_pct / 100
    return abs(value - target) <= allowed


def _changes(point: Point, i: Interpretation) -> dict[str, Any]:
    """The keys to set on ``point`` so that it decodes as ``i``."""
    declared = {
        "type": point.type.value,
        "word_order": point.word_order or "big",
        "byte_order": point.byte_order,
    }
    if point.type == DataType.SCALED and i.type == DataType.INT16:
        declared["type"] = "int16"  # scaled is int16 with decimals: same bits
    return {k: v for k, v in i.keys().items() if declared.get(k) != v}


def _toml(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in changes.items())


def check_test_gas(
    point: Point, interps: list[Interpretation], gas: float, tolerance_pct: float
) -> dict[str, Any]:
    """Pass/fail of the profile's interpretation against a known concentration, the
    interpretations that would match, and what to change in the profile."""
    current = next((i for i in interps if i.current), None)
    passed = (
        current is not None and not current.problem and _close(current.value, gas, tolerance_pct)
    )
    matches = [i for i in interps if not i.problem and _close(i.value, gas, tolerance_pct)]
    advice = []
    for i in matches:
        if i.current:
            continue
        advice.append(f"point {point.name}: set {_toml(_changes(point, i))} ({i.type} {i.order})")
    if not matches:  # right bits, wrong factor: a scale or unit mistake
        for i in interps:
            if i.raw is None or not i.value or i.problem.startswith(("NaN", "denormal")):
                continue
            if i.problem.startswith("magnitude"):
                continue
            for factor, meaning in FACTORS.items():
                if _close(i.value * factor, gas, tolerance_pct):
                    change = _changes(point, i)
                    change["scale"] = float(f"{point.scale * factor:.6g}")
                    advice.append(
                        f"point {point.name}: {i.type} {i.order} reads {i.value:.6g}, "
                        f"the test gas × 1/{factor:g}: {meaning}; set {_toml(change)}, or check "
                        "the unit (the device's unit code, the profile's unit)"
                    )
    return {
        "test_gas": gas,
        "tolerance_pct": tolerance_pct,
        "reading": None if current is None else current.value,
        "passed": passed,
        "matches": [f"{i.type} {i.order}" for i in matches],
        "advice": advice,
    }


def verify_point(
    profile: Profile,
    point: Point,
    regs: Registers,
    gas: float | None = None,
    tolerance_pct: float = 10.0,
) -> dict[str, Any]:
    """Everything ``sensors verify`` shows about one point, as plain data (for --json)."""
    words = point_words(point, regs)
    decimals = None
    if point.decimals_register is not None:
        decimals = regs.get((point.function, point.decimals_register))
    entry: dict[str, Any] = {
        "point": point.name,
        "function": point.function,
        "address": point.address,
        "registers": words,
        "hex": [f"{w:#06x}" for w in words],
        "profile": {
            "type": point.type.value,
            "word_order": point.word_order or "big",
            "byte_order": point.byte_order,
            "scale": point.scale,
            "offset": point.offset,
            **({"decimals": decimals} if point.decimals_register is not None else {}),
            **({"valid": list(point.valid)} if point.valid else {}),
        },
        "unit": point.unit,
        "interpretations": [],
    }
    if point.unit_code_register is not None:
        code = regs.get((point.function, point.unit_code_register), 0)
        entry["unit"] = UNIT_CODES[code] if code < len(UNIT_CODES) else f"code {code}"
    if len(words) < point.registers():
        entry["error"] = f"only {len(words)} of {point.registers()} register(s) read"
        return entry
    if decimals is not None and decimals > 4:
        entry["error"] = f"decimals register reads {decimals} (0..4 expected)"
        decimals = 0
    interps = interpret(point, words, decimals, taken_by(profile, point))
    entry["interpretations"] = [_json(i) for i in interps]
    if profile.device_alarm_point() == point.name:
        entry["device_alarm"] = device_alarm(profile, regs)
    if gas is not None:
        entry["check"] = check_test_gas(point, interps, gas, tolerance_pct)
    return entry


def _json(i: Interpretation) -> dict[str, Any]:
    d = asdict(i)
    if d["raw"] is not None and not math.isfinite(d["raw"]):
        d["raw"] = None
    return d
