"""Configuration on the web page (admin): forms generated from the config schema, and the
whole box.toml in a text editor, both checked by the same schema as the file.

Nothing is applied until the result is valid; a diff is shown before saving; saving refuses if
the file changed meanwhile; the last good configs (data/config-history) can be restored. A form
carries the document it was generated from (``draft``), so a page re-shown with errors keeps
every change made so far, including rows added or removed.
"""

from __future__ import annotations

import tomllib
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request

from box.config import form as config_form
from box.config.changes import digest
from box.config.edit import Edit, apply_edits
from box.config.form import UNSET
from box.config.loader import ConfigInvalid, context_for
from box.config.review import (
    StaleBase,
    check,
    running_text,
    save,
    saved_configs,
    unified_diff,
)
from box.config.schema import config_json_schema
from box.config.secrets import mask_text, unmask_text
from box.core.errors import ConfigError
from box.web.auth import page_role
from box.web.field_names import zh_name
from box.web.help_zh import CHOICES, help_zh
from box.web.i18n import lang
from box.web.nav import NavItem
from box.web.port import current_box

bp = Blueprint("config_pages", __name__)
NAV = [NavItem("/config", "config", role="admin", order=40)]

TABLE_SECTIONS = ("box", "store", "web", "alarms", "outputs", "inputs", "sync")
LIST_SECTIONS = ("channels", "drivers", "votes", "profiles")


def _running() -> str:
    return running_text(current_box().home)


def _history() -> list[str]:
    return saved_configs(current_box().home)


def _registry() -> Any:
    """The running box's drivers (a test double may have none: then the installed ones)."""
    return current_box().registry


def _render(text: str, status: int = 200, **ctx: Any) -> Any:
    running = _running()
    ctx.setdefault("base", digest(running))
    try:
        data = tomllib.loads(running)
    except tomllib.TOMLDecodeError:
        data = {}
    items = {s: _labels(data.get(s)) for s in LIST_SECTIONS}
    return render_template(
        "config.html",
        text=mask_text(text),  # secrets never go out to the browser (unmask_text on the way in)
        history=_history(),
        tables=TABLE_SECTIONS,
        items=items,
        driver_types=_driver_types(),
        **ctx,
    ), status


def _labels(rows: Any) -> list[str]:
    rows = rows if isinstance(rows, list) else []
    return [
        str(r.get("id") or r.get("name") or i) if isinstance(r, dict) else str(i)
        for i, r in enumerate(rows)
    ]


def _posted(field: str) -> str:
    """A config text from a form, with the running secrets put back where it shows the mask."""
    return unmask_text(request.form.get(field, "").replace("\r\n", "\n"), _running())


def _diff(old: str, new: str) -> str:
    return unified_diff(mask_text(old), mask_text(new)) or "(no change)"


@bp.get("/config")
@page_role("admin")
def show() -> Any:
    return _render(_running(), message=request.args.get("message"))


def _review(text: str) -> Any:
    """Validate ``text``: the errors page, or the diff with an Apply button."""
    issues = check(text, _registry(), context_for(current_box().home.config_file))
    if issues:
        return _render(text, 400, issues=issues)
    return _render(text, diff=_diff(_running(), text), valid=True)


@bp.post("/config/check")
@page_role("admin")
def check_text() -> Any:
    try:
        return _review(_posted("text"))
    except ConfigError as exc:
        return _render(request.form.get("text", ""), 400, error=str(exc))


@bp.post("/config/restore")
@page_role("admin")
def restore() -> Any:
    name = request.form.get("name", "")
    if name not in _history():
        abort(404, "no such saved config")
    return _review((current_box().home.config_history_dir / name).read_text(encoding="utf-8"))


@bp.post("/config/apply")
@page_role("admin")
def apply() -> Any:
    box = current_box()
    try:
        text = _posted("text")
    except ConfigError as exc:
        return _render(request.form.get("text", ""), 400, error=str(exc))
    try:
        result = save(
            box.home.config_file,
            text,
            request.form.get("base", ""),
            lambda: box.reload(who=f"web:{g.user.name}"),
            _registry(),
        )
    except StaleBase as exc:
        return _render(text, 409, error=str(exc))
    except ConfigInvalid as exc:
        return _render(text, 400, issues=exc.issues)
    if not result["accepted"]:
        return _render(text, 422, error="; ".join(result["errors"]))
    changed = ", ".join(result["changed"][:10]) or "nothing"
    return redirect(f"/config?message=applied: {changed}")


# -- forms generated from the schema -----------------------------------------------------------


def _section(section: str, item: str | None, data: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """(the section's schema node, its path in the document) for a URL, or 404."""
    root = config_json_schema(_registry())
    node = root["properties"].get(section) if section in TABLE_SECTIONS + LIST_SECTIONS else None
    if node is None or (item is None) != (section in TABLE_SECTIONS):
        abort(404, f"no config section {section!r}")
    g.schema = config_form.Schema(root)
    if item is None:
        return node, (section,)
    found = data.get(section)
    rows: list[Any] = found if isinstance(found, list) else []
    if item == "new":
        return node["items"], (section, len(rows))
    if not item.isdigit() or int(item) >= len(rows):
        abort(404, f"no {section} item {item!r}")
    return node["items"], (section, int(item))


def _value(data: Any, path: tuple[Any, ...]) -> Any:
    for elem in path:
        try:
            data = data[elem]
        except (KeyError, IndexError, TypeError):
            return UNSET
    return data


def _driver_type(section: str) -> dict[str, str]:
    """For a new driver: its type (?type= or the form's), whose schema gives the fields."""
    if section != "drivers":
        return {}
    kind = request.values.get("type", "")
    types = sorted(_driver_types())
    if kind not in types:
        abort(400, f"choose the driver type: ?type= one of {', '.join(types)}")
    return {"type": kind}


def _driver_types() -> list[str]:
    return sorted(_registry().drivers)


def _tree(
    node: Any, data: dict[str, Any], path: tuple[Any, ...], seed: dict[str, str] | None = None
) -> config_form.Field:
    value = _value(data, path)
    tree = config_form.build(g.schema, node, seed if value is UNSET and seed else value, path)
    tree.label = ".".join(str(p) for p in path)
    tree.removable = isinstance(path[-1], int) and value is not UNSET
    tree.new = False
    return tree


@bp.route("/config/form/<section>", methods=["GET", "POST"])
@bp.route("/config/form/<section>/<item>", methods=["GET", "POST"])
@page_role("admin")
def edit_form(section: str, item: str | None = None) -> Any:
    try:
        draft = _posted("draft") if request.method == "POST" else ""
    except ConfigError as exc:
        return redirect(f"/config?message={exc}")
    draft = draft or _running()
    try:
        data = tomllib.loads(draft)
    except tomllib.TOMLDecodeError:
        return redirect("/config?message=box.toml is not valid TOML: fix it in the editor")
    node, path = _section(section, item, data)
    seed = _driver_type(section) if item == "new" else {}
    tree = _tree(node, data, path, seed)
    if request.method == "GET":
        return _form_page(tree, draft, seed=seed)
    current = _value(data, path)
    changes = config_form.edits(tree, request.form, current)
    if current is UNSET:  # a new row: everything typed makes one item
        new = config_form.collect(tree, request.form)
        changes = [Edit(path, {**seed, **new})] if new is not UNSET else []
    try:
        text = apply_edits(draft, changes)
    except ConfigError as exc:
        return _form_page(tree, draft, 400, general=[str(exc)])
    issues = check(text, _registry(), context_for(current_box().home.config_file))
    diff = _diff(_running(), text)
    data = tomllib.loads(text)
    if any(e.delete and e.path == path for e in changes) or _value(data, path) is UNSET:
        # The item is gone (removed, or a new row left empty): review on the editor page.
        return _render(text, 400, issues=issues) if issues else _render(text, diff=diff, valid=True)
    tree = _tree(node, data, path)  # shown as it now is, so a further change builds on it
    if issues:
        return _form_page(tree, text, 400, general=config_form.attach(tree, issues))
    return _form_page(tree, text, diff=diff)


def _form_page(
    tree: config_form.Field,
    draft: str,
    status: int = 200,
    seed: dict[str, str] | None = None,
    **ctx: Any,
) -> Any:
    action = "/config/form/" + "/".join(str(p) for p in tree.path)
    if seed:  # still a new row: post back to "new" with its type
        action = f"/config/form/{tree.path[0]}/new?type={seed['type']}"
    return render_template(
        "config_form.html",
        tree=tree,
        draft=mask_text(draft),
        action=action,
        base=digest(_running()),
        zh_name=zh_name,
        help_text=lambda text: help_zh(text) if lang() == "zh-CN" else text,
        choice_text=lambda value: CHOICES.get(value, value) if lang() == "zh-CN" else value,
        **ctx,
    ), status
