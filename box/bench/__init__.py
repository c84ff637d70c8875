"""Benchmarks printed as JSON (``safetybox bench ...``); never timed unit tests.

Each ``run`` takes ``step``, called with the name of each phase as it starts (the CLI shows
a progress bar from it on a terminal) and lists its phases in ``PHASES``.
"""

from collections.abc import Callable

Step = Callable[[str], None]


def quiet(_phase: str) -> None:
    """The default ``step``: report nothing."""
