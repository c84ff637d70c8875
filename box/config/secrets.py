"""Config values that must not leave the box in clear: masked in ``config show`` and the
diagnostics bundle."""

from __future__ import annotations

import re
from typing import Any

SECRET_NAME = re.compile(r"(password|secret|token|passphrase|private_key)", re.I)


def mask_secrets(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: mask_secrets(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [mask_secrets(v, key) for v in node]
    if node and SECRET_NAME.search(key):
        return "********"
    return node
