"""What a later capability adds to the web page: one blueprint, one template (a test fixture)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from box.web.auth import page_role
from box.web.nav import NavItem
from box.web.push import PushSource

bp = Blueprint("example_area", __name__, template_folder="templates")
NAV = [NavItem("/example", ("Positions", "人员定位"), role="operator", order=25)]
# Its live data: sampled while a page is open, sent to the pages that subscribe to "example".
PUSH = [PushSource("example", lambda box: {"example": {"people": 2, "box": box.box_id}}, 0.2)]


@bp.get("/example")
@page_role("operator")
def example() -> Any:
    return render_template("example_area.html", people=["A. Li", "B. Wang"])
