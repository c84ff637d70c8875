"""The site map's people layer in a real headless Chromium against a real daemon in this
process: tags move on the plan within a second of a position update, zones take their alarm
state, an SOS is a marker and a banner no one can miss, the muster roll shows who is where, and
a stored trajectory plays back. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.records import Position, now_ms
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from tests.conftest import png_bytes, run_cli, sim_body, write_config
from tests.test_web_browser import ARTIFACTS, browser  # noqa: F401 - the fixture
from tests.test_web_live_browser import PASSWORD, _login, _wait

pytestmark = pytest.mark.slow

SITE = """
[[positioning]]
id = "site"
plan_size_m = [100.0, 60.0]
min_dwell_s = 0
margin_m = 0.2

[[positioning.zones]]
id = "reactor"
name = "Reactor hall"
type = "restricted"
polygon = [[10, 10], [40, 10], [40, 40], [10, 40]]
cameras = ["cam1"]

[[positioning.zones]]
id = "gate"
name = "Gate"
type = "muster_point"
polygon = [[80, 0], [100, 0], [100, 20], [80, 20]]

[[positioning.people]]
tag = "t1"
name = "Li Wei"
role = "fitter"
zones = ["reactor"]

[[positioning.people]]
tag = "t2"
name = "Zhang San"
role = "operator"
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Daemon]:
    home = tmp_path / "box"
    run_cli(home, "init")
    write_config(home, sim_body(interval=0.2, step_at=100_000, step_back=200_000) + SITE)
    bh = BoxHome.under(home)
    (bh.data_dir / "site-plan.png").write_bytes(png_bytes(1000, 600))
    d = Daemon(bh)
    d.start()
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    try:
        yield d
    finally:
        d.stop()


def _put(d: Daemon, tag: str, x: float, y: float, sos: bool = False) -> None:
    d.pipeline.submit([Position(tag, now_ms(), x, y, sos=sos)])


def _tag_px(b, tag: str) -> tuple[float, float] | None:  # noqa: ANN001
    return b.execute_script(
        "const e = document.querySelector(`.tag[data-tag='${arguments[0]}']`);"
        "if (!e) return null; const r = e.getBoundingClientRect(); return [r.x, r.y];",
        tag,
    )


def test_people_move_zones_alarm_sos_muster_and_replay(site: Daemon, browser) -> None:  # noqa: ANN001, F811
    d, b = site, browser
    url = "http://" + d.config.web.listen[0]
    _put(d, "t1", 60, 30)
    _put(d, "t2", 65, 30)
    ARTIFACTS.mkdir(exist_ok=True)
    b.set_window_size(1366, 900)
    _login(b, url)
    b.get(url + "/site")
    _wait(b, lambda: _tag_px(b, "t1") is not None and _tag_px(b, "t2") is not None)
    assert "Li Wei" in b.find_element("css selector", ".tag[data-tag='t1']").text

    # a move shows within a second (no page reload: the same document keeps a marker of ours)
    b.execute_script("window.__same_page = 1")
    moves = []
    for k in range(5):
        before = _tag_px(b, "t1")
        t0 = time.monotonic()
        _put(d, "t1", 60 - 2 * (k + 1), 30)
        _wait(b, lambda before=before: _tag_px(b, "t1") != before, timeout=5)
        moves.append(time.monotonic() - t0)
    assert sorted(moves)[len(moves) // 2] < 1.0, moves
    assert b.execute_script("return window.__same_page") == 1

    # Zhang San is not authorised for the reactor hall: the zone turns to alarm
    _put(d, "t2", 20, 20)
    _wait(b, lambda: b.find_elements("css selector", "path.zone-alarm"))
    # SOS: a marker no one can miss, and the urgent list
    _put(d, "t1", 30, 30, sos=True)
    _wait(b, lambda: b.find_elements("css selector", ".tag-sos[data-tag='t1']"))
    urgent = b.find_element("id", "people-urgent")
    _wait(b, lambda: "Li Wei" in urgent.text and "SOS" in urgent.text)
    b.save_screenshot(str(ARTIFACTS / "people-map-sos-1366.png"))

    # a muster: the roll says who is accounted for and who is still inside
    b.find_element("id", "muster-start").click()  # an operator starts it from the page
    _put(d, "t2", 90, 10)  # at the gate
    roll = b.find_element("id", "people-muster")
    _wait(b, lambda: "Muster running" in roll.text and "Zhang San → gate" in roll.text)
    assert "Still inside" in roll.text and "Li Wei" in roll.text
    events = d.api.positioning("muster_roll", {})
    assert events["active"] and events["started_by"] == "web:admin"

    # the stored trajectory of Li Wei plays back on the plan
    d.writer.flush()
    b.find_element("id", "replay-go").click()
    _wait(b, lambda: b.find_elements("css selector", "path.track"))
    _wait(b, lambda: "(1/" in b.find_element("id", "replay-at").text)
    b.set_window_size(390, 844)
    b.save_screenshot(str(ARTIFACTS / "people-map-390.png"))
