"""``safetybox bench uplink --short``: the whole path runs and loses nothing (no timings)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

FIELDS = {
    "datapoints_per_s": int,
    "polls_lost": int,
    "p50_ms": float,
    "p99_ms": float,
    "cpu_ms_per_dp": float,
    "rss_mib": float,
    "reconnect_s": float,
}


def test_short_uplink_bench_prints_its_figures_and_loses_no_poll() -> None:
    result = run_cli(None, "bench", "uplink", "--short", "--json")
    lines = result.output.strip().splitlines()  # type: ignore[attr-defined]
    figures = json.loads(lines[-1])
    for name, kind in FIELDS.items():
        assert isinstance(figures[name], kind | int), (name, figures[name])
    assert figures["bench"] == "uplink" and figures["short"] is True
    assert figures["polls_lost"] == 0
    assert figures["polls_delivered"] > 0 and figures["datapoints_per_s"] > 0
    assert figures["holes"] == 0  # the backfill of the outage arrived in full
    assert figures["fastest"] is None and figures["fastest_note"]
