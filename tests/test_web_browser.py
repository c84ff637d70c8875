"""The web page in a real headless Chromium (Debian's chromium + chromedriver, via Selenium),
against a real daemon: log in, change the initial password, see an alarm appear, acknowledge
it and see the light output change, switch language. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, open_reader, run_cli, sim_body, write_config

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(reason="needs Debian's chromium and chromium-driver (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'chrome'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_login_change_password_see_and_acknowledge_an_alarm(
    home: Path, daemon_factory, browser
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    write_config(home, sim_body(interval=0.1, step_at=6.0, step_back=3600))
    temp = re.search(r"temporary password (\S+)", run_cli(home, "users", "reset", "admin").output)
    d = daemon_factory(home)
    d.wait_ready()
    from selenium.common.exceptions import NoSuchElementException, WebDriverException

    b = browser
    # The page patches itself from the push channel: an element found a moment ago may be gone.
    # Chromium reports that as a stale element or, at times, as a generic inspector error
    # ("Node ... does not belong to the document"); either way the wait tries again, and a
    # condition that never holds still fails with a timeout.
    wait = WebDriverWait(b, 20, ignored_exceptions=(NoSuchElementException, WebDriverException))

    def click(css: str) -> bool:
        b.find_element(By.CSS_SELECTOR, css).click()
        return True

    def mode(output: str) -> str:
        # Read in one script call, so a re-render between "find" and "read" cannot interfere.
        return b.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.dataset.mode : '';",
            f'li[data-output="{output}"] .mode',
        ).strip()

    b.get(d.url + "/")
    assert b.current_url.endswith("/login")
    b.find_element(By.NAME, "user").send_keys("admin")
    b.find_element(By.NAME, "password").send_keys(temp.group(1))
    b.find_element(By.ID, "login").click()
    wait.until(lambda _: b.current_url.endswith("/password"))
    b.find_element(By.NAME, "old").send_keys(temp.group(1))
    b.find_element(By.NAME, "new").send_keys("a new long password")
    b.find_element(By.NAME, "confirm").send_keys("a new long passwore")
    b.find_element(By.ID, "change").click()
    # The browser refuses two different new passwords before anything is sent.
    assert b.execute_script("return document.getElementById('confirm').validity.customError")
    assert b.current_url.endswith("/password")
    b.find_element(By.NAME, "confirm").clear()
    b.find_element(By.NAME, "confirm").send_keys("a new long password")
    b.find_element(By.ID, "change").click()
    wait.until(lambda _: b.find_elements(By.ID, "tiles"))
    wait.until(lambda _: mode("red") == "off")
    # The simulated leak starts 6 s after the daemon: the page shows it without a reload click.
    wait.until(lambda _: b.find_elements(By.CSS_SELECTOR, 'li.alarm[data-id="t1.lel:A1"]'))
    wait.until(lambda _: mode("red") == "blink_fast")
    b.save_screenshot(str(ARTIFACTS / "dashboard-alarm.png"))
    wait.until(lambda _: click('li.alarm[data-id="t1.lel:A1"] button.ack'))
    wait.until(lambda _: mode("red") == "on")
    wait.until(lambda _: "acknowledged" in b.find_element(By.ID, "alarms").text)
    b.find_element(By.ID, "lang").click()
    wait.until(lambda _: "报警" in b.find_element(By.TAG_NAME, "body").text)
    time.sleep(2.5)  # the script has patched the tiles meanwhile: still in Chinese
    quality = "return document.querySelector('.tile .q').textContent;"
    assert b.execute_script(quality) == "正常"
    b.save_screenshot(str(ARTIFACTS / "dashboard-zh.png"))
    # On a phone (390 px wide) nothing is wider than the screen: no sideways scrolling.
    b.set_window_size(390, 844)
    for path in ("/", "/config/form/channels/0", "/system", "/alarms/history", "/users", "/config"):
        b.get(d.url + path)
        wait.until(lambda _: b.find_elements(By.TAG_NAME, "main"))
        width = b.execute_script("return [document.documentElement.scrollWidth, innerWidth];")
        assert width[0] <= width[1], (path, width)
    b.get(d.url + "/")
    b.save_screenshot(str(ARTIFACTS / "dashboard-phone.png"))
    b.set_window_size(1200, 900)
    assert d.status()["outputs"]["red"]["mode"] == "on"

    # Configuration: the channel's form (generated from the schema) shows an invalid threshold's
    # error next to the field; a valid one is diffed, applied and takes effect.
    b.get(d.url + "/config?lang=en")
    b.find_element(By.ID, "section-channels-0").click()
    field = "f-channels-0-alarms-thresholds-levels-0-at"
    box_ = wait.until(lambda _: b.find_element(By.ID, field))
    box_.clear()
    box_.send_keys("x")
    b.find_element(By.ID, "check").click()
    error = wait.until(lambda _: b.find_elements(By.ID, field + "-error"))[0]
    assert "valid number" in error.text and error.is_displayed()
    assert b.find_element(By.ID, field).get_attribute("value") == "x"
    b.execute_script("arguments[0].scrollIntoView({block: 'center'});", error)
    b.save_screenshot(str(ARTIFACTS / "config-error.png"))
    box_ = b.find_element(By.ID, field)
    box_.clear()
    box_.send_keys("45")
    b.find_element(By.ID, "check").click()
    diff = wait.until(lambda _: b.find_elements(By.ID, "diff"))[0]
    assert "at = 45" in diff.text
    b.save_screenshot(str(ARTIFACTS / "config-diff.png"))
    b.find_element(By.ID, "apply").click()
    wait.until(lambda _: b.find_elements(By.ID, "message"))
    lel = next(c for c in d.status()["channels"] if c["id"] == "t1.lel")
    assert lel["thresholds"]["A1"] == 45.0
    b.get(d.url + "/config/form/channels/0?lang=zh-CN")
    wait.until(lambda _: "报警值" in b.find_element(By.TAG_NAME, "body").text)
    b.save_screenshot(str(ARTIFACTS / "config-form-zh.png"))
    b.get(d.url + "/config?lang=en")

    # Site overview: upload a plan, place a channel from the tray, see it coloured by its state.
    from selenium.webdriver.common.action_chains import ActionChains

    from tests.conftest import png_bytes

    plan = home.parent / "plan.png"
    plan.write_bytes(png_bytes(600, 360))
    b.get(d.url + "/site")
    b.find_element(By.NAME, "plan").send_keys(str(plan))
    b.find_element(By.ID, "upload").click()
    chip = wait.until(lambda _: b.find_element(By.CSS_SELECTOR, '#tray [data-channel="t1.lel"]'))
    chip.click()
    ActionChains(b).move_to_element_with_offset(
        b.find_element(By.ID, "map"), 60, 30
    ).click().perform()

    def placed() -> str:
        conn = open_reader(home)
        try:
            row = conn.execute("SELECT value FROM state WHERE key = 'site.positions'").fetchone()
        finally:
            conn.close()
        return row[0] if row else ""

    wait.until(lambda _: "t1.lel" in placed())
    marker = '#map .marker-label[data-channel="t1.lel"]'
    lel = next(c for c in d.status()["channels"] if c["id"] == "t1.lel")
    expected = "alarm" if lel["alarms_active"] else "ok"  # A1 is now 45: above the 40 %LEL leak
    wait.until(
        lambda _: expected in b.find_element(By.CSS_SELECTOR, marker).get_attribute("class").split()
    )
    b.save_screenshot(str(ARTIFACTS / "site-overview.png"))
