"""The text a person sees on a page, for the zh-CN completeness checks: what the HTML shows
(not scripts, styles or hidden inputs), minus what is meant to stay as written (``<code>``,
``translate="no"``), and the English words left in it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIP = {"script", "style", "code", "kbd", "pre", "textarea", "template"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
# Units, identifiers and names that are the same in Chinese: the short allow-list.
ALLOWED = {
    "SafetyBox", "CPU", "GPIO", "MQTT", "CSV", "PNG", "JPEG", "TOML", "Modbus", "RTU", "TCP",
    "LEL", "ppm", "VOL", "MPa", "kPa", "MB", "min", "box", "toml", "UTC", "English", "TLS",
    "API", "ID", "IP", "URL", "HTTP", "HTTPS", "SM4", "AES", "GCM", "NTP", "RS",
    "mA", "kbps", "CA", "PEM", "CAS", "GB", "NAMUR", "STEL", "TWA", "HI", "LO", "SD", "RGB",
    "lgpio", "pigpio", "rpigpio", "float", "uint", "modbus", "sm4-gcm", "aes-256-gcm",
    "safetybox", "JavaScript", "TLV", "SOS", "UNIX", "UWB", "lec", "lep", "les",
}  # fmt: skip


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.parts: list[str] = []
        self.attrs_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        hidden = (
            tag in SKIP
            or a.get("translate") == "no"
            or "hidden" in a
            or (tag == "input" and a.get("type") == "hidden")
        )
        # (a placeholder shows a field's default: a value, written as in box.toml)
        for name in ("title", "aria-label", "alt"):
            if a.get(name) and not self._skipping() and not hidden:
                self.attrs_text.append(a[name] or "")
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.attrs_text.append(a["value"] or "")
        if tag not in VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def _skipping(self) -> bool:
        return any(h for _, h in self.stack)

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Visible()
    p.feed(html)
    return " ".join(p.parts + p.attrs_text)


WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
IDENT = re.compile(r"\S*[._:/\[\]=@]\S*|\S*\d\S*")  # ids, paths, keys, numbers with units


def english_words(text: str, allowed: set[str] = ALLOWED) -> list[str]:
    """Words of two letters or more that are neither allowed nor part of an identifier."""
    text = IDENT.sub(" ", text)
    return [w for w in WORD.findall(text) if w not in allowed and w.strip("'-") not in allowed]
