"""Config values that must not leave the box in clear: masked in ``config show``, the
diagnostics bundle, the config API and the config history (the store keeps the full text,
encrypted). Better still, ``sync.password_file`` keeps a password out of box.toml entirely."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from box.core.errors import ConfigError

SECRET_NAME = re.compile(r"(password|secret|token|passphrase|private_key)", re.I)


def mask_secrets(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: mask_secrets(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [mask_secrets(v, key) for v in node]
    if node and SECRET_NAME.search(key):
        return "********"
    return node


# What the config API and the config history show in place of a secret written into box.toml.
MASK = "(secret, unchanged)"


def mask_text(text: str) -> str:
    """``text`` with every secret value replaced by :data:`MASK` (layout and comments kept).
    Text that does not parse is returned as it is: it cannot be shown or saved as valid."""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError:
        return text
    _walk(doc, lambda table, key: table.__setitem__(key, MASK))
    return tomlkit.dumps(doc)


def unmask_text(text: str, running: str) -> str:
    """Put back the running config's secret wherever ``text`` still carries :data:`MASK`
    at the same place; a mask with nothing to put back is an error naming the key."""
    if MASK not in text:
        return text
    doc = tomlkit.parse(text)
    try:
        source = tomlkit.parse(running)
    except TOMLKitError:
        source = tomlkit.document()

    def restore(table: Any, key: str, path: tuple[str | int, ...]) -> None:
        node: Any = source
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                dotted = ".".join(str(p) for p in path)
                raise ConfigError(
                    f"{dotted} is {MASK!r} but the running config has no such secret: "
                    "type the value"
                ) from None
        table[key] = node

    _walk(doc, restore, with_path=True, only=MASK)
    return tomlkit.dumps(doc)


def _walk(
    node: Any,
    visit: Callable[..., None],
    path: tuple[str | int, ...] = (),
    with_path: bool = False,
    only: str | None = None,
) -> None:
    if isinstance(node, dict):
        for key in list(node.keys()):
            value = node[key]
            if isinstance(value, dict | list):
                _walk(value, visit, (*path, key), with_path, only)
            elif (
                isinstance(value, str)
                and value
                and SECRET_NAME.search(key)
                and (only is None or value == only)
            ):
                visit(node, key, (*path, key)) if with_path else visit(node, key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, visit, (*path, i), with_path, only)
