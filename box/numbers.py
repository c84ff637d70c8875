"""How values are shown to people (CLI, logs): with the channel's decimals, never every digit.

Stored readings and events keep full precision; only the text shown is rounded.
"""

from __future__ import annotations

DEFAULT_DECIMALS = 2


def shown(value: float | None, decimals: int = DEFAULT_DECIMALS) -> str:
    """``38.43682882174573`` -> ``'38.44'``; None (no trustworthy value) -> ``'-'``."""
    if value is None:
        return "-"
    return f"{value:.{decimals}f}"
