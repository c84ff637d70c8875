"""The control-room page in a real headless Chromium against a real daemon in this process (so a
test can raise alarms at will): alarms reach every kind of open page through the push channel,
rows patch in place without losing what an operator types, the wall display, the trend chart's
range and gaps, the site map, zh-CN as drawn by the scripts, a one-line config diff, and an
accessibility check (axe-core, vendored for tests) of every page. Screenshots at 1366 and 390 px
go to test-artifacts/; the measured alarm latency to test-artifacts/live-latency.json."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.core.records import now_ms
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from tests.conftest import REPO, png_bytes, run_cli, sim_body, write_config
from tests.test_web_browser import ARTIFACTS, browser  # noqa: F401 - the fixture
from tests.visible_text import ALLOWED

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
PAGES = ("/", "/site", "/system", "/alarms/history", "/config", "/trend/t1.lel", "/users",
         "/config/form/channels/0", "/password")  # fmt: skip
RAISES_PER_PAGE = 5


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Daemon, str]]:
    home = tmp_path / "box"
    run_cli(home, "init")
    # t1.lel stays at 5 %LEL (its step comes after the test): alarms come from threshold changes.
    write_config(home, sim_body(interval=0.1, step_at=100_000, step_back=200_000))
    bh = BoxHome.under(home)
    (bh.data_dir / "site-plan.png").write_bytes(png_bytes(600, 360))
    d = Daemon(bh)
    d.start()
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    d.api.save_state("site.positions", json.dumps({"t1.lel": [30.0, 40.0]}))
    url = "http://" + d.config.web.listen[0]
    try:
        yield d, url
    finally:
        d.stop()


def _login(b, url: str, lang: str = "en") -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    b.get(f"{url}/login?lang={lang}")
    b.find_element(By.NAME, "user").send_keys("admin")
    b.find_element(By.NAME, "password").send_keys(PASSWORD)
    b.find_element(By.ID, "login").click()
    _wait(b, lambda: b.find_elements(By.ID, "banner"))


def _wait(b, cond, timeout: float = 15):  # noqa: ANN001, ANN202
    from selenium.common.exceptions import NoSuchElementException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, WebDriverException)
    return WebDriverWait(b, timeout, 0.02, ignored_exceptions=ignored).until(lambda _: cond())


def _live(b) -> bool:  # noqa: ANN001
    return b.execute_script("return document.getElementById('live').className") == "live-ok"


def _raise(d: Daemon) -> None:
    d.api.set_threshold("t1.lel", "A1", 4.0, "test")


def _clear(d: Daemon) -> None:
    d.api.set_threshold("t1.lel", "A1", 25.0, "test")


def _no_alarm(d: Daemon) -> bool:
    from box.core.errors import CommandRefused

    for a in d.api.alarm_summary()["alarms"]:
        try:  # the alarm may have moved on meanwhile: look again next time
            if a["state"] in ("active_unack", "cleared_unack"):
                d.api.ack(a["id"], "test")
            if a["state"] == "latched":
                d.api.reset(a["id"], "test")
        except (CommandRefused, TimeoutError):
            return False
    return not d.api.alarm_summary()["alarms"]


OBSERVE = """
const b = document.getElementById("banner");
window.__raisedAt = null;
new MutationObserver(() => {
  if (window.__raisedAt === null && /lvl-/.test(b.className)) window.__raisedAt = Date.now();
}).observe(b, {attributes: true});
"""


def test_an_alarm_reaches_every_open_page_within_a_second(live, browser) -> None:  # noqa: ANN001, F811
    d, url = live
    b = browser
    _login(b, url)
    latencies: dict[str, list[float]] = {}
    for path in PAGES:
        b.get(url + path)
        _wait(b, lambda: _live(b))
        b.execute_script("window.__sameDocument = true;")
        for _ in range(RAISES_PER_PAGE):
            _wait(
                b,
                lambda: (
                    _no_alarm(d) and "none" in b.find_element("id", "banner").get_attribute("class")
                ),
            )
            b.execute_script(OBSERVE)
            t0 = time.time() * 1000
            _raise(d)
            seen = _wait(b, lambda: b.execute_script("return window.__raisedAt"), timeout=10)
            latencies.setdefault(path, []).append(seen - t0)
            assert b.title.startswith("(1!)"), b.title
            banner = b.find_element("id", "banner").text
            assert "Level 2" in banner and "1 active alarm" in banner, banner
            _clear(d)
        assert b.execute_script("return window.__sameDocument === true"), "patched, never reloaded"
    every = sorted(x for v in latencies.values() for x in v)
    p95 = every[int(0.95 * (len(every) - 1))]
    figures = {
        "raises": len(every),
        "p50_ms": round(every[len(every) // 2]),
        "p95_ms": round(p95),
        "max_ms": round(every[-1]),
        "per_page_max_ms": {k: round(max(v)) for k, v in latencies.items()},
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "live-latency.json").write_text(json.dumps(figures, indent=2))
    print("alarm visible on an open page:", figures)
    assert p95 < 3000, figures  # the target is 1 s; asserted generously on a shared machine


def test_rows_patch_in_place_and_keep_what_the_operator_types(live, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    d, url = live
    b = browser
    _login(b, url)
    _raise(d)
    b.get(url + "/")
    row = 'li.alarm[data-id="t1.lel:A1"]'
    _wait(b, lambda: b.find_elements(By.CSS_SELECTOR, row))
    text = b.find_element(By.CSS_SELECTOR, row).text
    for fact in ("ALARM", "Level 2 · orange", "value", "5.00 %LEL", "threshold", "4.00 %LEL",
                 "active, not acknowledged", "raised", "respond within 30 min"):  # fmt: skip
        assert fact in text, (fact, text)
    b.execute_script("window.__sameDocument = true;")
    reason = b.find_element(By.CSS_SELECTOR, row + ' input[name="reason"]')
    reason.send_keys("calibrating the head")
    time.sleep(2.5)  # values, durations and the banner update meanwhile
    reason = b.find_element(By.CSS_SELECTOR, row + ' input[name="reason"]')
    assert reason.get_attribute("value") == "calibrating the head"
    b.find_element(By.CSS_SELECTOR, row + ' button[data-act="shelve"]').click()
    _wait(b, lambda: "SHELVED" in b.find_element(By.CSS_SELECTOR, row).text)
    text = b.find_element(By.CSS_SELECTOR, row).text
    assert "shelved until" in text and "calibrating the head" in text and "web:admin" in text
    assert "cat-shelved" in b.find_element(By.CSS_SELECTOR, row).get_attribute("class")
    b.find_element(By.CSS_SELECTOR, row + ' button[data-act="unshelve"]').click()
    _wait(b, lambda: "ALARM" in b.find_element(By.CSS_SELECTOR, row).text)
    b.find_element(By.CSS_SELECTOR, row + ' button[data-act="ack"]').click()
    _wait(b, lambda: "acknowledged by" in b.find_element(By.CSS_SELECTOR, row).text)
    assert "web:admin" in b.find_element(By.CSS_SELECTOR, row).text
    assert b.execute_script("return window.__sameDocument === true")
    # The box's health and the site's state are two things, each named.
    assert "This box: working" in b.find_element(By.ID, "box-health").text
    assert "Site:" in b.find_element(By.ID, "banner").text


def _axe(b) -> list[dict]:  # noqa: ANN001
    b.execute_script(AXE.read_text(encoding="utf-8"))
    result = b.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [v for v in result if v.get("impact") in ("serious", "critical")]


def _visible_english(b) -> list[str]:  # noqa: ANN001
    text = b.execute_script(
        "const c = document.body.cloneNode(true);"
        "c.querySelectorAll('script,style,code,kbd,pre,textarea,[translate=no],[hidden]')"
        ".forEach(e => e.remove());"
        "c.querySelectorAll('input[type=hidden]').forEach(e => e.remove());"
        "document.body.appendChild(c); c.style.position='absolute'; c.style.left='-99999px';"
        "const t = c.innerText; c.remove(); return t;"
    )
    from tests.visible_text import english_words

    return sorted(set(english_words(text, ALLOWED)))


def test_every_page_screenshots_accessibility_and_chinese(live, browser) -> None:  # noqa: ANN001, F811
    d, url = live
    b = browser
    ARTIFACTS.mkdir(exist_ok=True)
    _raise(d)
    _login(b, url, lang="zh-CN")
    findings: dict[str, list] = {}
    english: dict[str, list[str]] = {}
    for width, height in ((1366, 900), (390, 844)):
        b.set_window_size(width, height)
        for path in PAGES:
            b.get(url + path)
            _wait(b, lambda: _live(b))
            time.sleep(0.3)  # the scripts have drawn the pushed state
            name = path.strip("/").replace("/", "-") or "dashboard"
            b.save_screenshot(str(ARTIFACTS / f"zh-{name}-{width}.png"))
            scroll = b.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
            assert scroll[0] <= scroll[1], (path, width, scroll)
            if width == 1366:
                words = _visible_english(b)
                if words:
                    english[path] = words
                bad = _axe(b)
                if bad:
                    findings[path] = [
                        (v["id"], v["impact"], [n["target"] for n in v["nodes"][:5]]) for v in bad
                    ]
    assert not english, english
    assert not findings, findings
    # English, both widths, for the record
    b.get(url + "/?lang=en")
    for width, height in ((1366, 900), (390, 844)):
        b.set_window_size(width, height)
        for path in ("/", "/site", "/trend/t1.lel", "/alarms/history"):
            b.get(url + path)
            _wait(b, lambda: _live(b))
            time.sleep(0.3)
            name = path.strip("/").replace("/", "-") or "dashboard"
            b.save_screenshot(str(ARTIFACTS / f"en-{name}-{width}.png"))


def test_touch_targets_current_page_and_the_wall(live, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    d, url = live
    b = browser
    _raise(d)
    _login(b, url)
    b.set_window_size(390, 844)
    for path in (
        "/",
        "/site",
        "/alarms/history",
        "/users",
        "/config",
        "/system",
        "/trend/t1.lel",
        "/config/form/channels/0",
    ):
        b.get(url + path)
        _wait(b, lambda: _live(b))
        small = b.execute_script(
            "return [...document.querySelectorAll('button, select, input:not([type=hidden]),"
            " header a, .banner a')].filter(e => e.offsetParent !== null).map(e => {"
            " const r = e.getBoundingClientRect();"
            " return [e.outerHTML.slice(0, 80), r.width, r.height]; })"
            ".filter(([, w, h]) => w < 44 || h < 44)"
        )
        small = [s for s in small if "checkbox" not in s[0] and "radio" not in s[0]]
        assert not small, (path, small)
        current = b.find_elements(By.CSS_SELECTOR, 'header nav a[aria-current="page"]')
        in_nav = ("/", "/site", "/users", "/config", "/system")
        expected = [path] if path in in_nav else []  # the others are reached from a page
        assert [a.get_attribute("href").removeprefix(url) for a in current] == expected, path
    b.set_window_size(1366, 900)
    b.get(url + "/system")
    key = re.search(r"/wall\?key=([0-9a-f]+)", b.find_element(By.ID, "wall-link").text)[1]
    b.delete_all_cookies()
    b.get(f"{url}/wall?key={key}")
    _wait(b, lambda: _live(b))
    tile = '.tile[data-channel="t1.lel"]'
    _wait(b, lambda: "lvl-2" in b.find_element(By.CSS_SELECTOR, tile).get_attribute("class"))
    assert "Level 2" in b.find_element(By.CSS_SELECTOR, tile).text
    assert (
        b.execute_script("return getComputedStyle(document.body).backgroundColor")
        == "rgb(11, 15, 20)"
    )
    assert not b.find_elements(By.CSS_SELECTOR, "header nav, button"), "no chrome, no buttons"
    size = b.execute_script(
        f"return parseFloat(getComputedStyle(document.querySelector('{tile} .value')).fontSize)"
    )
    assert size >= 48, size
    b.save_screenshot(str(ARTIFACTS / "wall-1366.png"))
    r = b.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/alarms/ack-all', {method: 'POST', headers: {'X-CSRF-Token':"
        " document.querySelector('meta[name=csrf-token]').content}}).then(r => done(r.status));"
    )
    assert r == 403, "the wall can see but never act"
    b.set_window_size(390, 844)
    b.save_screenshot(str(ARTIFACTS / "wall-390.png"))


def test_chart_range_gaps_and_live_extension(live, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    d, url = live
    b = browser
    minute = now_ms() // 60_000
    rows = [(m, 20.0 + m % 3) for m in range(minute - 50, minute - 40)]
    rows += [(m, 22.0) for m in range(minute - 10, minute - 5)]

    def insert(conn) -> None:  # noqa: ANN001
        (cid,) = conn.execute("SELECT id FROM channels WHERE name = 't1.temp'").fetchone()
        conn.executemany(
            "INSERT OR REPLACE INTO rollups(channel_id, minute, min, max, sum, count) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            [(cid, m, v, v, v) for m, v in rows],
        )

    d.writer.call(insert)
    _login(b, url)
    b.get(url + "/trend/t1.temp?range=hour&with=t1.lel")
    _wait(b, lambda: b.execute_script("return !!document.getElementById('chart').plot"))
    span = b.execute_script(
        "const s = document.getElementById('chart').plot.scales.x; return [s.min, s.max];"
    )
    now = time.time()
    assert abs(span[1] - now) < 10 and abs(span[1] - span[0] - 3600) < 10, (
        "the chosen hour, not the data's"
    )
    data = b.execute_script(
        "return document.getElementById('chart').plot.data"
        ".map(a => Array.from(a, v => v === undefined ? 'u' : v));"
    )
    xs, temp = data[0], data[1]
    gap_at = [i for i, v in enumerate(temp) if v is None]
    assert any(minute * 60 - 40 * 60 <= xs[i] <= minute * 60 - 10 * 60 for i in gap_at), (
        "a gap, not a line"
    )
    series = b.execute_script(
        "return document.getElementById('chart').plot.series.map(s => s.label)"
    )
    assert series[1:] == ["t1.temp (°C)", "t1.lel (%LEL)"]
    n = len(xs)
    _wait(
        b,
        lambda: (
            b.execute_script("return document.getElementById('chart').plot.data[0].length") > n + 1
        ),
    )
    b.save_screenshot(str(ARTIFACTS / "trend-1366.png"))
    b.set_window_size(390, 844)
    time.sleep(0.5)
    width = b.execute_script(
        "return document.querySelector('#chart canvas').getBoundingClientRect().width"
    )
    assert width <= 390, width
    b.save_screenshot(str(ARTIFACTS / "trend-390.png"))
    assert b.find_elements(By.CSS_SELECTOR, "#chart .u-legend"), "hover readout"


def test_site_map_markers_tray_and_placing(live, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    d, url = live
    b = browser
    _login(b, url)
    b.get(url + "/site")
    marker = '#map .marker-label[data-channel="t1.lel"]'
    _wait(b, lambda: b.find_elements(By.CSS_SELECTOR, marker))
    _wait(b, lambda: "5.00 %LEL" in b.find_element(By.CSS_SELECTOR, marker).text)
    assert "ok" in b.find_element(By.CSS_SELECTOR, marker).get_attribute("class").split()
    _raise(d)
    _wait(b, lambda: "lvl-2" in b.find_element(By.CSS_SELECTOR, marker).get_attribute("class"))
    assert "Level 2" in b.find_element(By.CSS_SELECTOR, marker).text
    chip = '#tray [data-channel="t1.temp"]'
    _wait(b, lambda: b.find_elements(By.CSS_SELECTOR, chip))
    b.find_element(By.CSS_SELECTOR, chip).click()
    ActionChains(b).move_to_element_with_offset(
        b.find_element(By.ID, "map"), 80, 40
    ).click().perform()
    _wait(b, lambda: not b.find_elements(By.CSS_SELECTOR, chip))
    _wait(b, lambda: b.find_elements(By.CSS_SELECTOR, '#map .marker-label[data-channel="t1.temp"]'))

    def saved() -> dict:
        row = d.api.reader.execute(
            "SELECT value FROM state WHERE key = 'site.positions'"
        ).fetchone()
        return json.loads(row[0]) if row else {}

    _wait(b, lambda: "t1.temp" in saved())
    zoom = b.execute_script("return window.SafetyBoxMap.map.getZoom()")
    b.find_element(By.CSS_SELECTOR, ".leaflet-control-zoom-in").click()
    _wait(b, lambda: b.execute_script("return window.SafetyBoxMap.map.getZoom()") > zoom)
    b.save_screenshot(str(ARTIFACTS / "site-map-1366.png"))


def test_a_one_value_form_edit_shows_a_one_line_diff(live, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    d, url = live
    b = browser
    _login(b, url)
    b.get(url + "/config/form/channels/0")
    field = b.find_element(By.ID, "f-channels-0-alarms-thresholds-levels-0-at")
    field.clear()
    field.send_keys("30")
    b.find_element(By.ID, "check").click()
    _wait(b, lambda: b.find_elements(By.ID, "diff"))
    added = [e.text for e in b.find_elements(By.CSS_SELECTOR, "#diff .add")]
    removed = [e.text for e in b.find_elements(By.CSS_SELECTOR, "#diff .del")]
    assert len(added) == len(removed) == 1 and "at = 30" in added[0], (added, removed)
    colour = b.execute_script(
        "return getComputedStyle(document.querySelector('#diff .add')).backgroundColor"
    )
    assert colour != "rgba(0, 0, 0, 0)"
    b.save_screenshot(str(ARTIFACTS / "config-one-line-diff.png"))


def test_a_fault_and_an_alarm_read_differently_not_by_colour_alone(tmp_path, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    home = tmp_path / "box"
    run_cli(home, "init")
    body = sim_body(interval=0.1, step_at=0.2, step_back=100_000)
    # t1.temp's transmitter answers without a value from the start, for good: a sensor fault.
    body = body.replace(
        'waveform = {{ shape = "sine"'.replace("{{", "{"),
        'dropout = { every_s = 100000, for_s = 99999, mode = "bad_quality" }\n'
        'waveform = { shape = "sine"',
    )
    write_config(home, body)
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        d.accounts.set_password("admin", PASSWORD, must_change=False)
        url = "http://" + d.config.web.listen[0]
        _login(b := browser, url)
        b.get(url + "/")
        alarm = 'li.alarm[data-id="t1.lel:A1"]'
        _wait(b, lambda: b.find_elements(By.CSS_SELECTOR, alarm))
        fault = _wait(
            b, lambda: b.find_elements(By.CSS_SELECTOR, 'li.alarm.cat-fault[data-id^="t1.temp"]')
        )[0]
        assert "◆ FAULT" in fault.text and "▲ ALARM" not in fault.text
        assert "▲ ALARM" in b.find_element(By.CSS_SELECTOR, alarm).text
        style = "return getComputedStyle(arguments[0]).borderLeftStyle"
        assert b.execute_script(style, fault) == "dashed"
        assert b.execute_script(style, b.find_element(By.CSS_SELECTOR, alarm)) == "solid"
        tile = b.find_element(By.CSS_SELECTOR, '.tile[data-channel="t1.temp"]')
        _wait(b, lambda: "FAULT" in tile.text)
        assert "cat-fault" in tile.get_attribute("class")
        assert "◆ 1 of them fault(s)" in b.find_element(By.ID, "banner").text
        b.save_screenshot(str(ARTIFACTS / "alarm-and-fault-1366.png"))
    finally:
        d.stop()


def test_a_page_says_when_it_is_out_of_date_and_reconnects_by_itself(live, browser) -> None:  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    d, url = live
    b = browser
    _login(b, url)
    b.get(url + "/")
    _wait(b, lambda: _live(b))
    b.execute_script("window.__sameDocument = true;")
    hub = d.web._hub  # the box's push hub: made to refuse and end streams, as if it restarted
    assert hub is not None
    with hub._cond:
        hub._closed = True
        hub._cond.notify_all()
    _wait(b, lambda: b.find_element(By.ID, "live").get_attribute("class") == "live-stale")
    assert "OUT OF DATE" in b.find_element(By.ID, "live").text
    assert "stale" in b.find_element(By.TAG_NAME, "body").get_attribute("class")
    b.save_screenshot(str(ARTIFACTS / "out-of-date-1366.png"))
    with hub._cond:
        hub._closed = False
    _raise(d)  # what happened meanwhile shows as soon as the page is back
    _wait(b, lambda: _live(b), timeout=30)
    _wait(b, lambda: b.find_elements(By.CSS_SELECTOR, 'li.alarm[data-id="t1.lel:A1"]'))
    assert b.execute_script("return window.__sameDocument === true"), "no reload"
