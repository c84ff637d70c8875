"""What a device says about itself: measuring, or why not, in words, and for which points.

Status-word flags and fault-code registers both end here, so a fault alarm can say "warming
up" or "sensor open circuit" instead of only "bad quality". Warm-up and calibration come first:
they are the device working as designed, and a technician acts on them differently from a fault.
A profile may say which points each flag (``[status] applies_to``) and each fault-code table
(``applies_to``) blanks: a gas cell's fault need not blank the same device's temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

from box.core.records import CALIBRATING, INHIBITED, WARMING_UP  # the engine knows these words
from drivers.modbus.profiles import ALARM_FLAGS, FaultCodes, Profile

DEVICE_FAULT = "device reports a fault"
HEARTBEAT_STOPPED = "heartbeat bit stopped toggling"

Registers = dict[tuple[int, int], int]  # (function, address) -> word


@dataclass(frozen=True)
class Reason:
    """One reason the device is not measuring, and the points it blanks (None: all)."""

    words: str
    points: frozenset[str] | None = None
    from_code: bool = False  # a fault-code table's meaning (more specific than the fault bit)

    def covers(self, point: str) -> bool:
        return self.points is None or point in self.points


def reasons(profile: Profile, regs: Registers, heartbeat_stopped: bool = False) -> list[Reason]:
    """Every reason the device gives now for not measuring, in the order they are told."""
    out: list[Reason] = []
    st = profile.status
    if st is not None:
        word = regs.get((st.function, st.address), 0)
        on = {name for name, bit in st.bits.items() if word >> bit & 1}
        if word & st.fault_mask:
            on.add("fault")
        for flag, words in (
            ("warmup", WARMING_UP),
            ("calibration", CALIBRATING),
            ("fault", DEVICE_FAULT),
            ("inhibit", INHIBITED),
        ):
            if flag in on:
                out.append(Reason(words, st.points_of(flag)))
        if heartbeat_stopped:
            out.append(Reason(HEARTBEAT_STOPPED, st.points_of("heartbeat")))
    for table in profile.fault_codes:
        meaning = code_meaning(table, regs.get((table.function, table.address), 0))
        if meaning:
            points = None if table.applies_to is None else frozenset(table.applies_to)
            out.append(Reason(meaning, points, from_code=True))
    return out


def _words(found: list[Reason]) -> str:
    """The reasons as one text. A fault code says more than a fault bit: it replaces the
    generic words (warm-up and calibration codes do not)."""
    texts: list[str] = []
    for r in found:
        if r.words in texts:
            continue
        if r.from_code and r.words not in (WARMING_UP, CALIBRATING) and DEVICE_FAULT in texts:
            texts.remove(DEVICE_FAULT)
        texts.append(r.words)
    return "; ".join(texts)


def device_status(profile: Profile, regs: Registers, heartbeat_stopped: bool = False) -> str:
    """Why the device is not measuring ("" when it is), from its status word and fault codes;
    a reason that blanks only some points names them."""
    found = reasons(profile, regs, heartbeat_stopped)
    everything = frozenset(p.name for p in profile.points)
    parts = []
    for points in dict.fromkeys(r.points for r in found):  # grouped by the points they blank
        words = _words([r for r in found if r.points == points])
        if points is not None and points != everything:
            words += f" ({', '.join(sorted(points))})"
        parts.append(words)
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return _words([Reason(p) for p in parts])


def point_status(
    profile: Profile, regs: Registers, heartbeat_stopped: bool = False
) -> dict[str, str]:
    """Per point: why it has no value now ("" when it is measured)."""
    found = reasons(profile, regs, heartbeat_stopped)
    return {p.name: _words([r for r in found if r.covers(p.name)]) for p in profile.points}


def code_meaning(table: FaultCodes, word: int) -> str:
    """The words for the code in ``word`` ("" for a code that means measuring)."""
    code = table.code_of(word)
    if code in table.ok:
        return ""
    if code in table.warmup:
        return WARMING_UP
    if code in table.calibration:
        return CALIBRATING
    if code in table.codes:
        return f"{table.codes[code]} (fault code {code})"
    return f"fault code {code} (not in the profile's table)"


def device_alarm(profile: Profile, regs: Registers) -> str | None:
    """The highest alarm level the device's status word signals ("A2", "A1"), "" for none,
    None when the profile gives no alarm bits (the device's opinion is unknown, not "no")."""
    st = profile.status
    if st is None or not set(ALARM_FLAGS) & set(st.bits):
        return None
    word = regs.get((st.function, st.address), 0)
    on = [f for f in ALARM_FLAGS if f in st.bits and word >> st.bits[f] & 1]
    return on[-1].upper() if on else ""
