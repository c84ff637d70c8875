"""Every page in zh-CN shows Chinese: the server-rendered text of each page (and of each config
form) may hold no English word beyond a short allow-list of units and identifiers. The text the
pages' scripts draw (alarm rows, tiles, the banner) comes from the same table, checked in
Chromium by tests/test_web_live_browser.py."""

from __future__ import annotations

import re

from box.web.i18n import MESSAGES, TEXT
from tests.test_web_pages import PASSWORD, box, client, login  # noqa: F401 - fixtures
from tests.visible_text import english_words, visible_text

PAGES = ("/", "/site", "/system", "/alarms/history", "/config", "/users", "/password",
         "/trend/t1.lel", "/wall")  # fmt: skip


def test_every_text_has_both_languages() -> None:
    for key, (en, zh) in TEXT.items():
        assert en.strip() and zh.strip(), key
        assert not english_words(re.sub(r"\{\w+\}", "", zh)), (key, zh)  # {n}: a placeholder
    assert all(MESSAGES.values())


def _untranslated(html: str) -> list[str]:
    return sorted(set(english_words(visible_text(html))))


def test_every_page_and_form_in_chinese(box, client) -> None:  # noqa: ANN001, F811
    from tests.conftest import png_bytes

    d, _ = box
    (d.home.data_dir / "site-plan.png").write_bytes(png_bytes(60, 36))
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    login(client, "admin", PASSWORD)
    config = client.get("/config?lang=zh-CN").get_data(as_text=True)
    forms = sorted(
        {x.replace("&amp;", "&") for x in re.findall(r'href="(/config/form/[^"]+)"', config)}
    )
    assert len(forms) >= 14
    found = {}
    for path in (*PAGES, *forms):
        sep = "&" if "?" in path else "?"
        r = client.get(f"{path}{sep}lang=zh-CN")
        assert r.status_code == 200, path
        words = _untranslated(r.get_data(as_text=True))
        if words:
            found[path] = words
    assert not found, found
    client.post(
        "/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', config)[1]}
    )
    assert _untranslated(client.get("/login?lang=zh-CN").get_data(as_text=True)) == []


def test_the_check_finds_english() -> None:
    assert english_words(visible_text("<p>报警 <b>active</b> <code>t1.lel</code> 25 %LEL</p>")) == [
        "active"
    ]
    assert english_words(visible_text('<p title="Shelve">屏蔽</p><script>var x="no"</script>')) == [
        "Shelve"
    ]
