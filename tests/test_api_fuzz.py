"""Fuzz the JSON API from its own OpenAPI document (schemathesis): no 500s, no corruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import create_app
from tests.conftest import open_reader, run_cli, sim_body, write_config

pytestmark = pytest.mark.slow


def test_every_operation_survives_generated_input(tmp_path: Path) -> None:
    home = tmp_path / "box"
    run_cli(home, "init")
    write_config(home, sim_body(interval=0.05, step_at=0.2, step_back=3600))
    config_before = (home / "box.toml").read_text()
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        app = create_app(d.api, {"TESTING": True})
        schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
        auth = {"Authorization": f"Bearer {d.api_token}"}
        operations = 0
        for result in schema.get_all_operations():
            op = result.ok()

            @given(case=op.as_strategy())
            @settings(
                max_examples=25,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=auth, checks=[not_a_server_error])

            run()
            operations += 1
        assert operations == 35
        assert d.api.health_problems() == [], "the box is still healthy"
        assert (home / "box.toml").read_text() == config_before, "config untouched"
        d.writer.flush()
    finally:
        d.stop()
    assert json.loads(run_cli(home, "audit", "verify", "--json").output)["ok"]
    conn = open_reader(home)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
