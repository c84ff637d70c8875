"""A form edit of one value changes one line of box.toml, in the demo config too, whose
[[channels]] are written in two places (tomlkit alone would move the second group)."""

from __future__ import annotations

import tomllib

from box.config.edit import Edit, apply_edits, split_pieces
from box.config.form import Schema, build, edits
from box.config.review import unified_diff
from box.config.schema import config_json_schema
from box.config.template import render
from drivers.base import default_registry
from tests.test_config_forms import by_path, form_of


def changed_lines(old: str, new: str) -> list[str]:
    diff = unified_diff(old, new).splitlines()
    return [ln for ln in diff if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_the_demo_config_splits_into_pieces_that_join_back(tmp_path) -> None:  # noqa: ANN001
    text = render(True, name="Demo", home=str(tmp_path))
    pieces = split_pieces(text)
    assert "".join(pieces) == text and len(pieces) > 5
    starts = [p for p in pieces if "[[channels]]" in p]
    assert len(starts) == 2, "the demo writes its channels in two places"


def test_one_threshold_changed_in_a_form_is_a_one_line_diff(tmp_path) -> None:  # noqa: ANN001
    text = render(True, name="Demo", home=str(tmp_path))
    data = tomllib.loads(text)
    schema = Schema(config_json_schema(default_registry()))
    node = schema.root["properties"]["channels"]["items"]
    checked = 0
    for i, row in enumerate(data["channels"]):
        if not row.get("alarms", {}).get("thresholds"):
            continue
        tree = build(schema, node, row, ("channels", i))
        form = form_of(tree)
        at = by_path(tree, "channels", i, "alarms", "thresholds", "levels", 0, "at")
        form[at.name] = "7"
        new = apply_edits(text, edits(tree, form, row))
        lines = changed_lines(text, new)
        assert len(lines) == 2, (row["id"], lines)
        assert lines[0].startswith("-") and lines[1].startswith("+") and "at = 7" in lines[1]
        assert tomllib.loads(new)["channels"][i]["alarms"]["thresholds"]["levels"][0]["at"] == 7
        checked += 1
    assert checked >= 6, "channels from both groups"


def test_adding_and_removing_channels_keeps_the_other_group_in_place(tmp_path) -> None:  # noqa: ANN001
    text = render(True, name="Demo", home=str(tmp_path))
    n = len(tomllib.loads(text)["channels"])
    added = apply_edits(text, [Edit(("channels", n), {"id": "new.lel", "kind": "gas_lel"})])
    assert tomllib.loads(added)["channels"][-1]["id"] == "new.lel"
    assert all(ln.startswith("+") for ln in changed_lines(text, added))
    gone = apply_edits(text, [Edit(("channels", n - 1), delete=True)])
    assert [c["id"] for c in tomllib.loads(gone)["channels"]] == [
        c["id"] for c in tomllib.loads(text)["channels"]
    ][:-1]
    assert all(ln.startswith("-") for ln in changed_lines(text, gone))


def test_a_whole_number_replacing_an_integer_is_written_as_one() -> None:
    text = "config_version = 1\n[store]\nretention_days = 30\n"
    assert "retention_days = 45\n" in apply_edits(text, [Edit(("store", "retention_days"), 45.0)])
    assert "= 45.5\n" in apply_edits(text, [Edit(("store", "retention_days"), 45.5)])


def test_new_keys_and_tables_land_where_they_mean_the_same(tmp_path) -> None:  # noqa: ANN001
    text = render(True, name="Demo", home=str(tmp_path))
    for edit in (
        Edit(("sync", "enabled"), True),
        Edit(("store", "retention_days"), 7),
        Edit(("web", "session_idle_min"), 10),
    ):
        new = apply_edits(text, [edit])
        data = tomllib.loads(new)
        assert data[edit.path[0]][edit.path[1]] == edit.value
        assert len(changed_lines(text, new)) <= 3, (edit, changed_lines(text, new))
