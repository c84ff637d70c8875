"""DWM1001 (PANS) UART shell output: one line per location update after ``lep``, ``lec`` or
``les``. The UART can garble or interleave lines at high rates, so each line is matched whole
against a strict pattern; anything else is dropped and counted, and the stream goes on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from drivers.uwb.fix import Fix

_NUM = r"-?\d+(?:\.\d+)?"
_POS = rf"POS,({_NUM}),({_NUM}),({_NUM}),(\d{{1,3}})"
LEP = re.compile(rf"^{_POS}$")
_ANCHOR = rf"AN\d+,[0-9A-Fa-f]{{4}},{_NUM},{_NUM},{_NUM},{_NUM}"
LEC = re.compile(rf"^DIST,(\d+)((?:,{_ANCHOR})*)(?:,{_POS})?$")
_LES_ANCHOR = rf"[0-9A-Fa-f]{{4}}\[{_NUM},{_NUM},{_NUM}\]={_NUM}"
LES = re.compile(rf"^((?:{_LES_ANCHOR} )*)le_us=\d+ est\[({_NUM}),({_NUM}),({_NUM}),(\d{{1,3}})\]$")
_LEC_ANCHOR = re.compile(rf",{_ANCHOR}")
PROMPT = "dwm>"


@dataclass
class ShellStats:
    lines: int = 0
    fixes: int = 0
    no_fix: int = 0  # well-formed lines without a position (lec with no POS block)
    dropped: int = 0  # garbled, truncated or interleaved lines
    last_dropped: str = ""
    examples: list[str] = field(default_factory=list)


def parse_line(line: str, tag: str) -> Fix | None:
    """The fix in one shell line, or None for a well-formed line without a position.

    Raises ValueError for a line that is not exactly one of the three formats (or a quality
    factor above 100): such a line is garbage and must not produce a position."""
    text = line.strip()
    m = LEP.match(text)
    if m:
        return _fix(tag, m.group(1), m.group(2), m.group(3), m.group(4))
    m = LEC.match(text)
    if m:
        anchors = len(_LEC_ANCHOR.findall(m.group(2)))
        if anchors != int(m.group(1)):
            raise ValueError(f"lec line announces {m.group(1)} anchors but has {anchors}")
        if m.group(3) is None:
            return None
        return _fix(tag, m.group(3), m.group(4), m.group(5), m.group(6))
    m = LES.match(text)
    if m:
        return _fix(tag, m.group(2), m.group(3), m.group(4), m.group(5))
    raise ValueError(f"not a lep/lec/les line: {text[:60]!r}")


def _fix(tag: str, x: str, y: str, z: str, qf: str) -> Fix:
    q = int(qf)
    if q > 100:
        raise ValueError(f"quality factor {q} is above 100")
    return Fix(tag, float(x), float(y), float(z), float(q))


class ShellDecoder:
    """Splits a byte stream into lines and parses them; keeps counters for diagnostics."""

    MAX_LINE = 512  # a line longer than this is garbage (no valid line comes near it)

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.stats = ShellStats()
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Fix]:
        out: list[Fix] = []
        if not self._buf and data.endswith(b"\n") and len(data) <= self.MAX_LINE:
            for raw in data.splitlines():  # whole lines, the usual case: no buffering
                fix = self._line(raw)
                if fix is not None:
                    out.append(fix)
            return out
        self._buf += data
        while True:
            cut = _line_end(self._buf)
            if cut < 0:
                if len(self._buf) > self.MAX_LINE:  # no end in sight: drop it as one bad line
                    self._drop(bytes(self._buf[:60]))
                    self._buf.clear()
                return out
            raw = bytes(self._buf[:cut])
            del self._buf[: cut + 1]
            fix = self._line(raw)
            if fix is not None:
                out.append(fix)

    def _line(self, raw: bytes) -> Fix | None:
        text = raw.decode("ascii", "replace").strip()
        m = LEP.match(text)
        if m is not None and int(m.group(4)) <= 100:  # the common line, parsed at once
            self.stats.lines += 1
            self.stats.fixes += 1
            return Fix(
                self.tag, float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))
            )
        if text.startswith(PROMPT):
            text = text[len(PROMPT) :].strip()
        if not text or _is_echo(text):
            return None
        self.stats.lines += 1
        try:
            fix = parse_line(text, self.tag)
        except ValueError:
            self._drop(raw[:60])
            return None
        if fix is None:
            self.stats.no_fix += 1
        else:
            self.stats.fixes += 1
        return fix

    def _drop(self, raw: bytes) -> None:
        self.stats.dropped += 1
        self.stats.last_dropped = raw.decode("ascii", "replace")


def _line_end(buf: bytearray) -> int:
    n, r = buf.find(b"\n"), buf.find(b"\r")
    if n < 0:
        return r
    return n if r < 0 else min(n, r)


_ECHOES = ("lep", "lec", "les", "lep ", "quit", "reset", "si", "vers", "la")


def _is_echo(text: str) -> bool:
    """The shell echoes commands and prints banners; they are neither data nor garbage."""
    return text in _ECHOES or text.startswith(
        ("DWM1001", "Help", "Copyright", "License", "Compiled")
    )
