"""What a device says about itself: measuring, or why not, in words.

Status-word flags and fault-code registers both end here, so a fault alarm can say "warming
up" or "sensor open circuit" instead of only "bad quality". Warm-up and calibration come first:
they are the device working as designed, and a technician acts on them differently from a fault.
"""

from __future__ import annotations

from box.core.records import CALIBRATING, INHIBITED, WARMING_UP  # the engine knows these words
from drivers.modbus.profiles import ALARM_FLAGS, FaultCodes, Profile

DEVICE_FAULT = "device reports a fault"
HEARTBEAT_STOPPED = "heartbeat bit stopped toggling"

Registers = dict[tuple[int, int], int]  # (function, address) -> word


def device_status(profile: Profile, regs: Registers, heartbeat_stopped: bool = False) -> str:
    """Why the device is not measuring ("" when it is), from its status word and fault codes."""
    reasons: list[str] = []
    st = profile.status
    if st is not None:
        word = regs.get((st.function, st.address), 0)
        on = {name for name, bit in st.bits.items() if word >> bit & 1}
        if "warmup" in on:
            reasons.append(WARMING_UP)
        if "calibration" in on:
            reasons.append(CALIBRATING)
        if "fault" in on or word & st.fault_mask:
            reasons.append(DEVICE_FAULT)
        if "inhibit" in on:
            reasons.append(INHIBITED)
    if heartbeat_stopped:
        reasons.append(HEARTBEAT_STOPPED)
    for table in profile.fault_codes:
        meaning = code_meaning(table, regs.get((table.function, table.address), 0))
        if meaning and meaning not in reasons:
            # A fault code says more than a fault bit: it replaces the generic words.
            if meaning not in (WARMING_UP, CALIBRATING) and DEVICE_FAULT in reasons:
                reasons.remove(DEVICE_FAULT)
            reasons.append(meaning)
    return "; ".join(reasons)


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
