"""Register words -> values, in explicit steps: words -> word order -> bytes -> unpack.

The legality table says, per data type, how many registers it takes and which options apply
(HA modbus's ``DEFAULT_STRUCT_FORMAT`` idea): a profile that sets an option its type cannot use
is rejected when the profile loads, naming the profile, register and field.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import StrEnum


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    SCALED = "scaled"  # uint16/int16 divided by 10^decimals (decimals from a register)


@dataclass(frozen=True)
class TypeRules:
    registers: int
    struct_code: str
    word_order: bool  # may the word order be set
    decimals: bool  # may a decimals register be named


LEGALITY: dict[DataType, TypeRules] = {
    DataType.INT16: TypeRules(1, "h", False, False),
    DataType.UINT16: TypeRules(1, "H", False, False),
    DataType.INT32: TypeRules(2, "i", True, False),
    DataType.UINT32: TypeRules(2, "I", True, False),
    DataType.FLOAT32: TypeRules(2, "f", True, False),
    DataType.SCALED: TypeRules(1, "h", False, True),
}


def decode(
    words: list[int], dtype: DataType, word_order: str = "big", byte_order: str = "big"
) -> float | None:
    """The value of ``words`` (16-bit registers as read); None for NaN/inf (never invented)."""
    rules = LEGALITY[dtype]
    if len(words) != rules.registers:
        raise ValueError(f"{dtype} needs {rules.registers} registers, got {len(words)}")
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise ValueError(f"register values must be 0..65535, got {words}")
    ordered = list(words) if word_order == "big" else list(reversed(words))
    raw = b"".join(w.to_bytes(2, "big") for w in ordered)
    if byte_order == "little":  # bytes swapped inside each word: [12][34] -> [21][43]
        raw = b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))
    (value,) = struct.unpack(">" + rules.struct_code, raw)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value)


def encode(
    value: float, dtype: DataType, word_order: str = "big", byte_order: str = "big"
) -> list[int]:
    """The inverse of :func:`decode` (for writes and for the simulator)."""
    rules = LEGALITY[dtype]
    code = rules.struct_code
    number: float | int = value if code == "f" else int(round(value))
    raw = struct.pack(">" + code, number)
    if byte_order == "little":
        raw = b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return words if word_order == "big" else list(reversed(words))
