"""Shared settings for the property-based chaos tests: a few hundred cases each in the normal
suite, ``CHAOS_EXAMPLES`` of them (e.g. 5000) in ``make chaos``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("CHAOS_EXAMPLES", "300"))


def chaos_settings(examples: int | None = None, **kw: object) -> settings:
    return settings(
        max_examples=examples or EXAMPLES,
        deadline=None,  # timing is for benchmarks; a slow case on a busy machine is no failure
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
        derandomize=os.environ.get("CHAOS_RANDOM") is None,  # reproducible unless asked
        **kw,  # type: ignore[arg-type]
    )
