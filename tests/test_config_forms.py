"""Config forms generated from the schema: fields, edits that keep comments, errors by field."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from box.config.edit import Edit, apply_edits
from box.config.form import UNSET, Field, Schema, attach, build, collect, edits
from box.config.review import check
from box.config.schema import config_json_schema
from drivers.base import default_registry
from tests.conftest import sim_body

TEXT = 'config_version = 1\n[web]\nlisten = ["127.0.0.1:8080"]  # keep me\n' + sim_body()


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema(config_json_schema(default_registry()))


def section(schema: Schema, path: tuple) -> tuple[Field, object]:
    data = tomllib.loads(TEXT)
    node = schema.root["properties"][path[0]]
    value = data
    for elem in path:
        try:
            value = value[elem]
        except (KeyError, IndexError):
            value = UNSET
    if len(path) > 1:
        node = node["items"]
    return build(schema, node, value, path), value


def by_path(tree: Field, *path: object) -> Field:
    return next(f for f in tree.walk() if f.path == path)


def form_of(tree: Field) -> dict[str, str]:
    """What a browser posts for the form as shown."""
    return {f.name: f.value for f in tree.walk() if f.widget not in ("group", "list", "fixed")}


def test_fields_follow_the_schema(schema: Schema) -> None:
    tree, _ = section(schema, ("channels", 0))
    kind = by_path(tree, "channels", 0, "kind")
    assert kind.widget == "select" and kind.value == "gas_lel" and "o2" in kind.choices
    at = by_path(tree, "channels", 0, "alarms", "thresholds", "levels", 0, "at")
    assert at.widget == "number" and at.value == "25.0"
    level = by_path(tree, "channels", 0, "alarms", "thresholds", "levels", 1, "level")
    assert level.attrs == {"step": "1", "min": "1", "max": "4"}
    stale = by_path(tree, "channels", 0, "alarms", "stale_after_s")
    assert stale.value == "" and stale.placeholder == "60", "unset: the default is the hint"
    blank = by_path(tree, "channels", 0, "alarms", "thresholds", "levels", 2)
    assert blank.new and blank.widget == "group", "a blank row adds a level"
    assert by_path(tree, "channels", 0, "safety").choices == ("true", "false")


def test_an_unchanged_form_makes_no_edits(schema: Schema) -> None:
    for path in [("channels", 0), ("channels", 1), ("outputs",), ("sync",), ("drivers", 0)]:
        tree, value = section(schema, path)
        assert edits(tree, form_of(tree), value) == [], path


def test_edits_change_only_what_was_changed_and_keep_comments(schema: Schema) -> None:
    tree, value = section(schema, ("channels", 0))
    form = form_of(tree)
    form[by_path(tree, "channels", 0, "alarms", "thresholds", "levels", 0, "at").name] = "30"
    form[by_path(tree, "channels", 0, "name").name] = "Tank 1"
    form[by_path(tree, "channels", 0, "alarms", "thresholds", "deadband").name] = ""
    blank = by_path(tree, "channels", 0, "alarms", "thresholds", "levels", 2)
    form[by_path(blank, *blank.path, "name").name] = "A3"
    form[by_path(blank, *blank.path, "at").name] = "75"
    changes = edits(tree, form, value)
    assert changes == [
        Edit(("channels", 0, "name"), "Tank 1"),
        Edit(("channels", 0, "alarms", "thresholds", "levels", 0, "at"), 30),
        Edit(("channels", 0, "alarms", "thresholds", "levels", 2), {"name": "A3", "at": 75}),
        Edit(("channels", 0, "alarms", "thresholds", "deadband"), delete=True),
    ]
    text = apply_edits(TEXT, changes)
    assert "# keep me" in text and check(text) == []
    levels = tomllib.loads(text)["channels"][0]["alarms"]["thresholds"]
    assert [lv["at"] for lv in levels["levels"]] == [30, 50.0, 75] and "deadband" not in levels


def test_remove_rows_and_add_a_channel(schema: Schema) -> None:
    tree, value = section(schema, ("outputs",))
    form = form_of(tree)
    form[by_path(tree, "outputs", "relays", 0).remove_name] = "1"
    form[by_path(tree, "outputs", "buzzer", "pin").name] = ""
    text = apply_edits(TEXT, edits(tree, form, value))
    outputs = tomllib.loads(text)["outputs"]
    assert outputs.get("relays", []) == [] and "buzzer" not in outputs, "emptied table goes"
    assert check(text) == []

    tree, value = section(schema, ("channels", 2))
    assert value is UNSET
    form = form_of(tree)
    form.update(
        {
            by_path(tree, "channels", 2, "id").name: "t1.o2",
            by_path(tree, "channels", 2, "kind").name: "o2",
            by_path(tree, "channels", 2, "unit").name: "%VOL",
            by_path(tree, "channels", 2, "range").name: "0, 25",
        }
    )
    item = collect(tree, form)
    assert item == {"id": "t1.o2", "kind": "o2", "unit": "%VOL", "range": [0, 25]}
    text = apply_edits(TEXT, [Edit(("channels", 2), item)])
    assert tomllib.loads(text)["channels"][2]["id"] == "t1.o2" and check(text) == []


def test_schema_errors_land_on_their_fields(schema: Schema) -> None:
    tree, value = section(schema, ("channels", 0))
    form = form_of(tree)
    at0 = by_path(tree, "channels", 0, "alarms", "thresholds", "levels", 0, "at")
    form[at0.name] = "abc"
    text = apply_edits(TEXT, edits(tree, form, value))
    issues = check(text)
    again = build(
        schema,
        schema.root["properties"]["channels"]["items"],
        tomllib.loads(text)["channels"][0],
        ("channels", 0),
    )
    rest = attach(again, issues)
    bad = by_path(again, *at0.path)
    assert bad.value == "abc" and "valid number" in bad.errors[0], "the typed value stays"
    assert rest == []
    form = form_of(tree)
    form[by_path(tree, "channels", 0, "alarms", "stale_after_s").name] = "500"
    issues = check(apply_edits(TEXT, edits(tree, form, value)))
    assert attach(tree, issues) == [] and "exceeds 100 s" in tree.errors[0], "model checks on top"


def test_secrets_are_never_shown(schema: Schema) -> None:
    text = TEXT + '\n[sync]\nusername = "box"\npassword = "s3cret"\n'
    data = tomllib.loads(text)["sync"]
    tree = build(schema, schema.root["properties"]["sync"], data, ("sync",))
    pw = by_path(tree, "sync", "password")
    assert (
        pw.widget == "password"
        and pw.value == ""
        and "s3cret" not in json.dumps([f.value + f.placeholder for f in tree.walk()])
    )
    assert edits(tree, form_of(tree), data) == [], "an empty password box keeps the secret"


def test_field_names_round_trip_paths(schema: Schema) -> None:
    tree, _ = section(schema, ("channels", 0))
    for f in tree.walk():
        assert tuple(json.loads(f.name[2:])) == f.path
        assert re.fullmatch(r"f-[\w.\-]+", f.html_id)


@pytest.mark.parametrize(
    "edit",
    [
        Edit((0,), delete=True),  # found by fuzzing: an index where a key belongs
        Edit(("channels", "x"), delete=True),
        Edit(("channels", 99, "id"), delete=True),
        Edit(("box", "name", "x"), delete=True),
    ],
)
def test_deleting_what_is_not_there_changes_nothing(edit: Edit) -> None:
    assert apply_edits(TEXT, [edit]) == TEXT


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (Edit((0,), 1), "0: not a table field"),
        (Edit(("channels", "x", "id"), 1), "channels.x: no such list item"),
        (Edit(("channels", 5), {}), "channels.5: no such list item"),
        (Edit(("web", "listen", "x"), 1), "web.listen.x: no such list item"),
        (Edit(("channels", 0, "id", "x"), 1), "channels.0.id.x: not a table field"),
        (Edit((), 1), "an edit needs a path"),
    ],
)
def test_impossible_edits_are_clear_errors(edit: Edit, message: str) -> None:
    from box.core.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_edits(TEXT, [edit])


def test_every_form_of_the_demo_config_round_trips_unchanged(tmp_path) -> None:  # noqa: ANN001
    """Each section and item of the demo site, posted as shown, changes nothing."""
    from box.config.template import render

    text = render(True, name="Demo", home=str(tmp_path))
    data = tomllib.loads(text)
    schema = Schema(config_json_schema(default_registry()))
    checked = 0
    for key, node in schema.root["properties"].items():
        value = data.get(key, UNSET)
        if isinstance(value, list):
            for i, row in enumerate(value):
                tree = build(schema, node["items"], row, (key, i))
                assert edits(tree, form_of(tree), row) == [], (key, i)
                checked += 1
        elif key != "config_version":
            tree = build(schema, node, value, (key,))
            assert edits(tree, form_of(tree), value) == [], key
            checked += 1
    assert checked > 15


def test_chinese_field_names_know_a_modbus_unit_from_a_unit(schema: Schema) -> None:
    from box.web.field_names import ZH, zh_name

    keys = set(schema.root["properties"])
    for node in schema.defs.values():  # a model may name its own keys ("x-zh"), as plug-ins do
        keys |= {k for k, p in node.get("properties", {}).items() if "x-zh" not in p}
    assert keys <= set(ZH), f"no Chinese name for {sorted(keys - set(ZH))}"

    assert zh_name(("channels", 0, "unit")) == "单位"
    assert zh_name(("drivers", 0, "devices", 2, "unit")) == "从站地址"
    assert zh_name(("channels", 0, "alarms", "thresholds", "levels", 1)) == "报警级别"
    assert zh_name(("channels", 0, "no_such_key")) == ""


def test_a_plugin_names_its_own_keys_in_chinese() -> None:
    """A plug-in driver's model carries its Chinese names: no file of the box to touch."""
    from box.config.form import Schema, build
    from box.config.schema import config_json_schema
    from drivers.base import DriverRegistry
    from tests.example_plugins import NoiseDriver

    schema = Schema(config_json_schema(DriverRegistry(drivers={"noise": NoiseDriver})))
    node = schema.root["properties"]["drivers"]
    row = {"type": "noise", "name": "m1", "meter": "gate"}
    tree = build(schema, node["items"], row, ("drivers", 0))
    names = {f.path[-1]: f.zh for f in tree.children}
    assert names["meter"] == "噪声计" and names["interval_s"] == "采样周期(秒)"
