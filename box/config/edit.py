"""Edit ``box.toml`` in place by field path, keeping its comments and layout (tomlkit).

The web forms and ``POST /api/config/edit`` both produce a list of edits; applying them here
changes only the lines they touch, so the diff shown before saving is the change and nothing else.
"""

from __future__ import annotations

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
    import tomlkit

    doc = parse_document(text)
    deletes = [e for e in edits if e.delete]
    for edit in edits:
        if not edit.delete:
            _set(doc, edit.path, edit.value)
    for edit in sorted(deletes, key=_delete_order):
        _delete(doc, edit.path)
    return tomlkit.dumps(doc)


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
    node[key] = _inline(value) if inline else value


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
