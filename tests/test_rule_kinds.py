"""Rule kinds are plug-ins: a new kind is one module plus one entry-point line."""

from __future__ import annotations

import configparser
import importlib
from importlib.metadata import EntryPoint

import pytest

from box.alarms import kinds
from box.config.loader import ConfigInvalid, parse_config
from box.config.schema import config_json_schema
from box.core import plugins
from drivers.base import default_registry
from tests.alarm_harness import Box
from tests.conftest import REPO

CHANNEL = """
[[channels]]
id = "g"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
[channels.alarms.thresholds]
levels = [{ name = "A1", at = 20 }]
"""
FROZEN = (
    CHANNEL
    + """[channels.alarms.frozen]
epsilon = 0.5
for_s = 60
"""
)


def _plugins(monkeypatch: pytest.MonkeyPatch, *pairs: tuple[str, str]) -> kinds.RuleKinds:
    """Install these ``safetybox.rules`` entry points; the process's kinds are reloaded."""
    eps = [EntryPoint(name, value, plugins.RULES) for name, value in pairs]
    installed = plugins.entry_points  # other groups (the drivers) stay as installed: a
    # registry loaded meanwhile must not be cached empty for the rest of the session

    def entry_points(group: str) -> list[EntryPoint]:
        return (
            [e for e in eps if e.group == group]
            if group == plugins.RULES
            else list(installed(group=group))
        )

    monkeypatch.setattr(plugins, "entry_points", entry_points)
    monkeypatch.setattr(kinds, "_default", None)
    return kinds.default_rule_kinds()


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> kinds.RuleKinds:
    return _plugins(
        monkeypatch,
        ("frozen", "tests.example_rule:KIND"),
        ("broken", "no_such_module_xyz:KIND"),
    )


def test_a_plugin_kind_key_is_accepted_and_in_the_json_schema(frozen: kinds.RuleKinds) -> None:
    config = parse_config("config_version = 1\n" + FROZEN)
    assert config.channels[0].alarms.frozen.for_s == 60  # type: ignore[attr-defined]
    schema = config_json_schema(default_registry())
    assert schema["$defs"]["Frozen"]["properties"]["epsilon"]["minimum"] == 0
    assert "frozen" in schema["$defs"]["ChannelAlarms"]["properties"]
    with pytest.raises(ConfigInvalid, match=r"channels\[0\].alarms.frozen.for_s"):
        parse_config("config_version = 1\n" + FROZEN.replace("for_s = 60", "for_s = -1"))


def test_without_the_plugin_its_key_is_unknown() -> None:
    with pytest.raises(ConfigInvalid, match="frozen = .*unknown key"):
        parse_config("config_version = 1\n" + FROZEN)


def test_a_plugin_kind_raises_and_clears_through_the_engine(frozen: kinds.RuleKinds) -> None:
    b = Box(FROZEN)
    try:
        for t in range(0, 60, 10):
            b.read(t, "g", 5.0 + (t % 20) / 100)  # moves by less than epsilon
        assert b.state_of("g:frozen") == "normal"
        b.read(60, "g", 5.1)
        assert b.state_of("g:frozen") == "active_unack"
        assert b.engine.alarms["g:frozen"].spec.kind == "fault"
        assert b.modes()["yellow"] == "blink_slow"
        b.read(70, "g", 9.0)
        assert b.state_of("g:frozen") == "normal"
        assert b.kinds("alarm_") == ["alarm_raised:g:frozen", "alarm_cleared:g:frozen"]
    finally:
        b.close()


def test_a_broken_plugin_is_reported_by_name_and_the_builtins_run(
    frozen: kinds.RuleKinds,
) -> None:
    assert "ModuleNotFoundError" in frozen.failed["broken"]
    assert {k.name for k in frozen.channel} >= {"thresholds", "fault", "frozen"}
    assert [k.name for k in frozen.site] == ["votes", "positioning", "fusion"]
    # Its settings are kept (not run), so a box using it still starts.
    b = Box(CHANNEL + "[channels.alarms.broken]\nanything = 1\n")
    try:
        b.read(0, "g", 25.0)
        assert b.state_of("g:A1") == "active_unack"
    finally:
        b.close()


def test_a_plugin_cannot_take_a_builtin_name_but_the_builtin_listed_again_is_fine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = _plugins(
        monkeypatch,
        ("thresholds", "tests.example_rule:KIND"),
        ("votes", "box.alarms.kinds.votes:KIND"),  # as an installed setup.cfg lists it
        ("misnamed", "tests.example_rule:KIND"),
        ("stale_after_s", "tests.example_rule:KIND"),
    )
    assert "taken by a built-in" in loaded.failed["thresholds"]
    assert "votes" not in loaded.failed
    assert "differs from the kind's name 'frozen'" in loaded.failed["misnamed"]
    assert "stale_after_s" in loaded.failed


def test_setup_cfg_registers_exactly_the_builtin_kinds() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options.entry_points"][plugins.RULES].split("\n")
    listed = {n.strip(): v.strip() for n, _, v in (x.partition("=") for x in lines if x.strip())}
    loaded, failed = plugins.import_builtins(kinds.BUILTIN_KINDS, lambda k: k.name, lambda n, o: "")
    assert not failed
    builtin = {
        name: next(p for p in kinds.BUILTIN_KINDS if kind is _at(p))
        for name, kind in loaded.items()
    }
    assert listed == builtin


def test_relays_name_channels_or_sources_that_site_kinds_provide() -> None:
    votes = "".join(
        f'[[channels]]\nid = "d{i}"\nkind = "gas_lel"\nunit = "%LEL"\n'
        f'[channels.alarms.thresholds]\nlevels = [{{ name = "A1", at = 20 }}]\n'
        for i in range(2)
    )
    votes += '[[votes]]\nid = "z"\nchannels = ["d0", "d1"]\nk = 2\nthreshold = "A1"\n'
    relay = '[[outputs.relays]]\nname = "fan"\npin = 5\nchannels = ["d0", "vote:z", "{}"]\n'
    parse_config("config_version = 1\n" + relay.format("d1") + votes)
    with pytest.raises(
        ConfigInvalid, match=r"'vote:nope': not a declared channel \(or vote:ID, zone:ID\)"
    ):
        parse_config("config_version = 1\n" + relay.format("vote:nope") + votes)


def _at(path: str) -> object:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
