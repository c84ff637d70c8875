"""Falling behind the frame budget is loud: an event when the analysis stops keeping up and
one when it catches up again, never a silent change of backend."""

from __future__ import annotations

from box.core.levels import Level
from box.core.records import Event, Reading
from vision.driver import BudgetWatch


def test_crossing_the_budget_is_an_event_each_way_and_only_once() -> None:
    watch = BudgetWatch("gate", 5.0)
    assert watch.events([Reading("gate.load", 1, 0.6)]) == []
    behind = watch.events([Reading("gate.load", 2, 1.4), Reading("gate.load", 3, 1.6)])
    assert [e.kind for e in behind] == ["vision_behind"], "once, not per reading"
    assert behind[0].level == Level.LEVEL_3 and behind[0].source == "camera:gate"
    assert behind[0].details["load"] == 1.4 and "skipped" in behind[0].details["policy"]
    assert watch.behind
    assert watch.events([Reading("gate.intrusion", 4, 3.0)]) == [], "other channels ignored"
    back = watch.events([Reading("gate.load", 5, 0.9)])
    assert [e.kind for e in back] == ["vision_caught_up"] and back[0].level == Level.INFO
    assert not watch.behind


def test_driver_events_reach_the_store_through_the_pipeline(tmp_path) -> None:  # noqa: ANN001
    from box.paths import BoxHome
    from box.runtime.daemon import Daemon
    from tests.conftest import open_reader, run_cli, sim_body, wait_for, write_config

    home = tmp_path / "box"
    run_cli(home, "init")
    write_config(home, sim_body())
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        d.pipeline.submit([Event("vision_behind", "camera:gate", 1, Level.LEVEL_3, {"load": 2})])

        def stored() -> bool:
            d.writer.flush()
            conn = open_reader(home)
            try:
                sql = "SELECT count(*) FROM events WHERE kind = 'vision_behind'"
                return conn.execute(sql).fetchone()[0] == 1
            finally:
                conn.close()

        wait_for(stored, what="the driver's event stored")
        assert d.pipeline.refused_records == 0
    finally:
        d.stop()
