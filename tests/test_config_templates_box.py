"""A box running from a templated config: the devices read the Modbus simulator over TCP, each
generated channel alarms on the template's thresholds or its unit's override, and the web
page's editor checks templates like the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import create_app
from drivers.modbus.profiles import shipped
from sim.modbus_slave import DeviceSim, Slave, TcpSlave
from tests.conftest import run_cli, wait_for, write_config

PASSWORD = "correct horse battery"

BODY = """
[[drivers]]
type = "modbus"
name = "tanks"
host = "127.0.0.1"
tcp_port = {port}

[[device_templates]]
name = "tank"
driver = "tanks"
units = "1-4"
device = {{ profile = "generic-gas-probe", interval_s = 0.1 }}
[device_templates.channels.concentration]
id = "tank{{unit:02d}}.lel"
name = "Tank {{unit}}"
zone = "tank-{{unit:02d}}"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
alarms.thresholds.levels = [{{ name = "A1", at = 20, level = 2 }}]
[device_templates.instances.2]
channels.concentration.alarms.thresholds.levels = [{{ name = "A1", at = 8 }}]
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Daemon, str]]:
    probe = shipped()["generic-gas-probe"]
    tcp = TcpSlave(Slave([DeviceSim(probe, u, base=5.0 * u, noise=0) for u in range(1, 5)]))
    tcp.start()
    home = tmp_path / "box"
    info = json.loads(run_cli(home, "init", "--json").output)
    write_config(home, BODY.format(port=tcp.port))
    d = Daemon(BoxHome.under(home))
    d.start()
    try:
        yield d, info["web_login"]["password"]
    finally:
        d.stop()
        tcp.stop()


def test_generated_channels_read_the_bus_and_alarm_on_their_own_thresholds(running) -> None:  # noqa: ANN001
    d, _ = running

    def active() -> dict[str, list[str]] | None:
        chans = {c["id"]: c for c in d.api.snapshot()["channels"]}
        if any(c["value"] is None for c in chans.values()):
            return None
        return {cid: c["alarms_active"] for cid, c in chans.items()}

    alarms = wait_for(
        lambda: (a := active()) and a["tank04.lel"] and a["tank02.lel"] and a, what="alarms"
    )
    # 5, 10, 15, 20 %LEL: A1 at 20 from the template; unit 2's override puts it at 8.
    assert alarms == {
        "tank01.lel": [],
        "tank02.lel": ["A1"],
        "tank03.lel": [],
        "tank04.lel": ["A1"],
    }
    chans = {c["id"]: c for c in d.api.snapshot()["channels"]}
    assert chans["tank03.lel"]["value"] == pytest.approx(15.0)
    assert chans["tank03.lel"]["zone"] == "tank-03" and chans["tank03.lel"]["name"] == "Tank 3"


def test_the_web_editor_checks_templates_and_its_pages_render(running) -> None:  # noqa: ANN001
    d, _ = running
    client = create_app(d.api, {"TESTING": True}).test_client()
    d.accounts.set_password("admin", PASSWORD, must_change=False)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"user": "admin", "password": PASSWORD, "csrf_token": token})
    page = client.get("/config").get_data(as_text=True)
    assert "[[device_templates]]" in page, "the editor shows the file as written"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    current = d.home.config_file.read_text()
    bad = current.replace("at = 8 }", 'at = "x" }')
    r = client.post("/config/check", data={"csrf_token": token, "text": bad})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "device_templates[0].instances.2.channels.concentration" in html
    assert "template &#39;tank&#39; unit 2: Input should be a valid number" in html
    ok = client.post("/config/check", data={"csrf_token": token, "text": current})
    assert ok.status_code == 200
    for link in sorted(set(re.findall(r'href="(/config/form/[^"]+)"', page))):
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link
