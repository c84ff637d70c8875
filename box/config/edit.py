"""Edit ``box.toml`` in place by field path, keeping its comments and layout (tomlkit).

The web forms and ``POST /api/config/edit`` both produce a list of edits; applying them here
changes only the lines they touch, so the diff shown before saving is the change and nothing else.

tomlkit merges an array of tables written in several places (``[[channels]]`` before
``[outputs]`` and more after it, as the demo config does) into one when it parses, and writes it
back in one place: one changed threshold would move whole tables away from their comments. So
the file is edited in pieces, each a run of headers under one top-level key, and each edit goes to
the piece that holds what it changes; the pieces are joined back as they were. The result is
checked against the whole-document edit: if the two ever meant different things, the
whole-document result is used (a moved table, never a wrong value).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from box.config.locate import PathElem
from box.core.errors import ConfigError

if TYPE_CHECKING:
    import tomlkit

# tomlkit (~1 MiB) is imported by the functions that use it: the daemon loads this module
# with the web page's config forms, but edits the file only when someone saves a change.


@dataclass(frozen=True)
class Edit:
    """Set ``path`` to ``value``, or delete it when ``delete`` is true. An index one past the
    end of a list appends."""

    path: tuple[PathElem, ...]
    value: Any = None
    delete: bool = False


def parse_document(text: str) -> tomlkit.TOMLDocument:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"box.toml is not valid TOML: {exc}") from None


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """The document with every edit applied. Deletions of list items run last and from the
    highest index down, so the paths of the other edits keep meaning what they meant."""
    from tomlkit.exceptions import TOMLKitError

    whole = _apply_whole(text, edits)
    try:
        pieces = _apply_in_pieces(text, edits)
    except (ConfigError, TOMLKitError, tomllib.TOMLDecodeError, LookupError):
        return whole
    if pieces is None or tomllib.loads(pieces) != tomllib.loads(whole):
        return whole
    return pieces


def _apply_whole(text: str, edits: Sequence[Edit]) -> str:
    import tomlkit

    doc = parse_document(text)
    deletes = [e for e in edits if e.delete]
    for edit in edits:
        if not edit.delete:
            _set(doc, edit.path, edit.value)
    for edit in sorted(deletes, key=_delete_order):
        _delete(doc, edit.path)
    return tomlkit.dumps(doc)


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_-]+|\"[^\"]*\")")


def split_pieces(text: str) -> list[str]:
    """``text`` cut before each header whose top-level key differs from the previous header's
    (a comment block right above a header goes with it); joined, the pieces are ``text``."""
    lines = text.splitlines(keepends=True)
    cuts, top, in_string = [0], None, False
    for i, line in enumerate(lines):
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_string = not in_string  # a header-like line inside a multi-line string is text
        m = None if in_string else _HEADER.match(line)
        if m is None:
            continue
        key = m.group(1).strip('"')
        if top is not None and key != top:
            start = i
            while start > cuts[-1] and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            cuts.append(start)
        top = key
    cuts.append(len(lines))
    return ["".join(lines[a:b]) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _apply_in_pieces(text: str, edits: Sequence[Edit]) -> str | None:
    import tomlkit

    pieces = split_pieces(text)
    if len(pieces) < 2:
        return None
    docs = [tomlkit.parse(p) for p in pieces]
    if any(tomlkit.dumps(d) != p for d, p in zip(docs, pieces, strict=True)):
        return None  # some piece does not survive tomlkit unchanged: nothing gained
    for edit in [e for e in edits if not e.delete]:
        k, path = _locate(docs, edit.path, appending=True, value=edit.value)
        _set(docs[k], path, edit.value)
    for edit in sorted([e for e in edits if e.delete], key=_delete_order):
        k, path = _locate(docs, edit.path, appending=False)
        _delete(docs[k], path)
    return "".join(tomlkit.dumps(d) for d in docs)


def _locate(
    docs: list[tomlkit.TOMLDocument], path: tuple[PathElem, ...], appending: bool, value: Any = None
) -> tuple[int, tuple[PathElem, ...]]:
    """The piece that holds ``path`` and the path inside it. An array of tables spread over
    pieces is indexed across them; a new item goes to the last piece that has the array."""
    top = path[0]
    if not isinstance(top, str):
        raise LookupError(path)  # the whole-document edit says what is wrong with it
    holders = [k for k, d in enumerate(docs) if top in d]
    if not holders:  # a new root key before the tables; a new table at the end
        return (0 if len(path) == 1 and not isinstance(value, dict) else len(docs) - 1), path
    if len(path) > 1 and isinstance(path[1], int) and isinstance(docs[holders[0]][top], list):
        index = path[1]
        for k in holders:
            size = len(docs[k][top])
            if index < size:
                return k, (top, index, *path[2:])
            index -= size
        if appending and index == 0:
            return holders[-1], (top, len(docs[holders[-1]][top]), *path[2:])
        raise LookupError(path)
    # A table (possibly with sub-tables in several pieces): the piece with the longest prefix.
    best, depth = holders[0], -1
    for k in holders:
        node: Any = docs[k]
        n = 0
        for elem in path:
            try:
                node = node[elem]
            except (KeyError, IndexError, TypeError):
                break
            n += 1
        if n > depth:
            best, depth = k, n
    return best, path


def _delete_order(edit: Edit) -> tuple[Any, ...]:
    # Deepest paths first, and among siblings the highest list index first.
    return (-len(edit.path), *(-e if isinstance(e, int) else 0 for e in edit.path))


def _describe(path: Sequence[PathElem]) -> str:
    return ".".join(str(p) for p in path) or "(document)"


def _container(doc: Any, path: Sequence[PathElem], create: bool) -> Any:
    """The table or array that holds ``path[-1]``, creating missing tables when asked."""
    import tomlkit

    node = doc
    for i, elem in enumerate(path[:-1]):
        if isinstance(node, list):
            if not isinstance(elem, int) or not 0 <= elem < len(node):
                if not create:
                    return None
                raise ConfigError(f"{_describe(path[: i + 1])}: no such list item")
            node = node[elem]
            continue
        if not isinstance(node, dict) or not isinstance(elem, str):
            if not create:
                return None
            raise ConfigError(f"{_describe(path[: i + 1])}: not a table")
        if elem not in node:
            if not create:
                return None
            nxt = path[i + 1]
            inline = isinstance(node, tomlkit.items.InlineTable)
            node[elem] = (
                tomlkit.array()
                if isinstance(nxt, int)
                else (tomlkit.inline_table() if inline else tomlkit.table())
            )
        node = node[elem]
    return node


def _set(doc: Any, path: tuple[PathElem, ...], value: Any) -> None:
    import tomlkit

    if not path:
        raise ConfigError("an edit needs a path")
    node = _container(doc, path, create=True)
    key = path[-1]
    if isinstance(node, list):
        if not isinstance(key, int) or not 0 <= key <= len(node):
            raise ConfigError(f"{_describe(path)}: no such list item")
        if key == len(node):
            node.append(_fit(node, value))
        else:
            node[key] = _fit(node, value)
        return
    if not isinstance(node, dict) or not isinstance(key, str):
        raise ConfigError(f"{_describe(path)}: not a table field")
    inline = isinstance(node, tomlkit.items.InlineTable)
    node[key] = _same_kind(node.get(key), _inline(value) if inline else value)


def _same_kind(old: Any, new: Any) -> Any:
    """A whole number replacing an integer stays written as one (``at = 20``, not ``20.0``):
    the same value, and a diff that shows only the number that changed."""
    if isinstance(old, int) and not isinstance(old, bool) and isinstance(new, float):
        return int(new) if new.is_integer() and abs(new) < 2**53 else new
    return new


def _fit(array: Any, value: Any) -> Any:
    """Items of an inline array are inline tables; of an array of tables, tables."""
    import tomlkit

    if isinstance(array, tomlkit.items.AoT) or not isinstance(value, dict):
        return value
    return _inline(value)


def _inline(value: Any) -> Any:
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table[k] = _inline(v)
        return table
    return value


def _delete(doc: Any, path: tuple[PathElem, ...]) -> None:
    node = _container(doc, path, create=False)
    key = path[-1]
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        del node[key]
    elif isinstance(node, dict) and isinstance(key, str) and key in node:
        del node[key]
        if len(path) > 1 and isinstance(node, dict) and not node:
            _delete(doc, path[:-1])  # an emptied optional table goes too: its default applies


def toml_line(key: str, value: Any) -> str:
    """``key = value`` as one TOML line (tables inline), for the form's key/value text areas."""
    import tomlkit

    doc = tomlkit.document()
    doc[key] = _inline(value)
    return tomlkit.dumps(doc).strip()
