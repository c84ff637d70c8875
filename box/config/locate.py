"""Find the line of a TOML document that defines a field path, for error messages.

``tomllib`` keeps no positions, so this follows table headers (``[a.b]``, ``[[a]]``) and
``key =`` lines, counting arrays of tables. Values inside inline tables or arrays resolve to the
line of their key, which is where a person would look anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BARE_KEY = re.compile(r'\s*("[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-]+)\s*(\.|$)')

PathElem = str | int


def split_dotted(key: str) -> tuple[str, ...] | None:
    parts: list[str] = []
    pos = 0
    while pos < len(key):
        m = _BARE_KEY.match(key, pos)
        if not m:
            return None
        parts.append(m.group(1).strip("\"'"))
        pos = m.end()
    return tuple(parts)


def locate(text: str, path: Sequence[PathElem]) -> int | None:
    """1-based line whose table or key best matches ``path`` (the longest prefix of it, or the
    first line inside it); None if no line does."""
    target = tuple(path)
    arrays: dict[tuple[PathElem, ...], int] = {}  # array-of-tables path -> last index seen
    current: tuple[PathElem, ...] = ()
    best: tuple[int, int] | None = None  # (prefix length, line)

    def concrete(keys: tuple[str, ...]) -> tuple[PathElem, ...]:
        out: list[PathElem] = []
        for k in keys:
            out.append(k)
            if tuple(out) in arrays:
                out.append(arrays[tuple(out)])
        return tuple(out)

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        found: tuple[PathElem, ...] | None = None
        if line.startswith("[["):
            keys = split_dotted(line[2 : line.find("]]")])
            if keys is None:
                continue
            parent = concrete(keys[:-1]) + (keys[-1],)
            arrays[parent] = arrays.get(parent, -1) + 1
            current = found = parent + (arrays[parent],)
        elif line.startswith("["):
            keys = split_dotted(line[1 : line.find("]")])
            if keys is None:
                continue
            current = found = concrete(keys)
        elif "=" in line and not line.startswith("#"):
            keys = split_dotted(line.split("=", 1)[0])
            if keys is None:
                continue
            found = current + keys
        if found is None:
            continue
        # The line defines a prefix of the path, or (a dotted key) something inside it.
        if target[: len(found)] == found:
            score = len(found)
        elif found[: len(target)] == target:
            score = len(target)
        else:
            continue
        if best is None or score > best[0]:
            best = (score, lineno)
    return best[1] if best else None
