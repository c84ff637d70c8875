"""Configs that must be refused with a reason and a line, never accepted and applied wrong:
found by trying the demo config the way a typo, a bad editor or a power cut would."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from box.config.loader import ConfigInvalid, load_config, parse_config
from box.config.template import render

DEMO = render(demo=True)


def rejected(text: str) -> ConfigInvalid:
    with pytest.raises(ConfigInvalid) as info:
        parse_config(text)
    return info.value


def issues_of(text: str) -> list[Any] | None:
    """The problems found in ``text``, or None if it is valid."""
    try:
        parse_config(text)
    except ConfigInvalid as exc:
        return exc.issues
    return None


def edit(path: tuple[Any, ...], value: Any) -> str:
    doc = tomlkit.parse(DEMO)
    node: Any = doc
    for elem in path[:-1]:
        node = node[elem]
    node[path[-1]] = value
    return tomlkit.dumps(doc)


def test_the_demo_config_is_valid() -> None:
    parse_config(DEMO)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("outputs", "buzzer"), {"pin": 22}, "pin BCM22 is already used"),
        (("outputs", "buzzer"), {"pin": "GPIO22"}, "pin BCM22 is already used"),
        (("outputs", "buzzer"), {"pin": "BOARD15"}, "pin BCM22 is already used"),
        (("outputs", "buzzer"), {"pin": -1}, "does not exist"),
        (("outputs", "buzzer"), {"pin": 64}, "does not exist"),
        (("outputs", "buzzer"), {"pin": "BOARD1"}, "not a GPIO"),
        (("outputs", "buzzer"), {"pin": "banana"}, "not a pin name"),
        (("outputs", "buzzer"), {"pin": True}, "valid integer"),
        (("store", "max_size_mb"), float("inf"), "not a finite number"),
        (("store", "max_size_mb"), True, "valid number"),
        (("store", "max_size_mb"), "2048", "valid number"),
        (("store", "commit_interval_ms"), "20", "valid integer"),
        (("web", "https"), "yes", "valid boolean"),
        (("web", "https"), 1, "valid boolean"),
        (("web", "listen"), ["127.0.0.1:\u0668\u0660\u0668\u0660"], "HOST:PORT"),
        (("channels", 0, "range"), [0, float("inf")], "not a finite number"),
        (("channels", 0, "range"), [float("-inf"), 100], "not a finite number"),
    ],
)
def test_refused_with_a_reason(path: tuple[Any, ...], value: Any, reason: str) -> None:
    exc = rejected(edit(path, value))
    assert reason in str(exc), str(exc)
    assert all(issue.line for issue in exc.issues), str(exc)


@pytest.mark.parametrize("at", ["nan", "inf", "-inf", "500", "-50"])
def test_a_threshold_that_could_never_trip_is_refused(at: str) -> None:
    which = "at = 50, level" if at == "500" else "at = 25, level"  # keep the ladder ordered
    text = DEMO.replace(which, f"at = {at}, level", 1)
    assert text != DEMO
    exc = rejected(text)
    assert re.search(r"not a finite number|outside the channel's range", str(exc)), str(exc)
    assert all(issue.line for issue in exc.issues)


def test_duplicate_relay_names_are_refused() -> None:
    doc = tomlkit.parse(DEMO)
    relays = doc["outputs"]["relays"]
    copy = tomlkit.item(relays[0].unwrap())
    copy["pin"] = 26
    relays.append(copy)
    exc = rejected(tomlkit.dumps(doc))
    assert "duplicate of relays[0]" in str(exc)


@pytest.mark.parametrize(
    "nesting",
    [
        "deep = " + "[" * 3000 + "]" * 3000 + "\n",
        "deep = " + "{ a = " * 3000 + "1" + " }" * 3000 + "\n",
        "deep." + ".".join(["a"] * 3000) + " = 1\n",
    ],
    ids=["arrays", "inline tables", "dotted keys"],
)
def test_nesting_3000_deep_is_refused_not_a_crash(nesting: str) -> None:
    exc = rejected("config_version = 1\n" + nesting)
    assert "nested" in str(exc) and exc.issues[0].line == 2


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    raw = DEMO.encode()
    cut = raw.index(b"[store]")
    path.write_bytes(raw[:cut] + b"# caf\xe9\n" + raw[cut:])
    with pytest.raises(ConfigInvalid) as info:
        load_config(path)
    line = raw[:cut].count(b"\n") + 1
    assert f"box.toml:{line}:" in str(info.value) and "not UTF-8" in str(info.value)


def test_every_truncation_is_valid_or_refused_with_lines() -> None:
    """A power cut during a non-atomic write leaves a prefix of the file."""
    step = max(1, len(DEMO) // 120)
    for cut in range(0, len(DEMO), step):
        problems = issues_of(DEMO[:cut])
        assert problems is None or all(i.line for i in problems), f"cut at {cut}: {problems}"


# -- mutations of the demo config, against an oracle that does not use the schema ------------


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [(path, node)]


LEAVES = _leaves(tomllib.loads(DEMO))
ODD = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("inf"),
            float("-inf"),
            -1,
            0,
            1e300,
            -1e300,
            2**63 - 1,
            True,
            False,
            "",
            "yes",
            "2048",
            "\u0661\u0662",
            "nan",
            [],
            {},
        ]
    ),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


def oracle(data: dict[str, Any], config: Any, path: tuple[Any, ...], value: Any) -> list[str]:
    """What an accepted config must satisfy, checked without the schema's validators."""
    wrong = []

    def walk(node: Any) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            wrong.append(f"non-finite {node}")
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v)

    dumped = config.model_dump(mode="python")
    walk(dumped)
    # The mutated value was taken as it was written, not coerced into another kind.
    node: Any = dumped
    for elem in path:
        if isinstance(node, dict) and elem in node:
            node = node[elem]
        elif isinstance(node, list) and isinstance(elem, int) and elem < len(node):
            node = node[elem]
        else:
            node = value  # a key that only the document has (e.g. inside a union)
            break
    if not isinstance(node, dict | list | tuple) and _kind(node) != _kind(value):
        wrong.append(f"{value!r} accepted as {node!r}")
    for ch in config.channels:
        th = ch.alarms.thresholds
        if ch.range and th:
            wrong += [f"{ch.id}: {lv.at} outside {ch.range}" for lv in th.levels
                      if not ch.range[0] <= lv.at <= ch.range[1]]  # fmt: skip
    pins = [p for p in _pins(config)]
    wrong += [f"pin {p}" for p in pins if isinstance(p, int) and not 0 <= p <= 63]
    if len({str(p) for p in pins}) != len(pins):
        wrong.append(f"pins used twice: {pins}")
    for listen in config.web.listen:
        port = listen.rpartition(":")[2]
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            wrong.append(f"listen {listen!r}")
    return wrong


def _pins(config: Any) -> list[Any]:
    o, i = config.outputs, config.inputs
    lamps = [o.buzzer, o.tower.red, o.tower.yellow, o.tower.green, o.fault_relay, *o.relays]
    return [x.pin for x in [*lamps, i.ack_button, i.reset_button] if x is not None]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf=st.sampled_from(LEAVES), value=ODD)
def test_every_mutation_is_refused_with_a_reason_or_valid_per_the_oracle(
    leaf: tuple[tuple[Any, ...], Any], value: Any
) -> None:
    path, _ = leaf
    data = tomllib.loads(DEMO)
    node: Any = data
    for elem in path[:-1]:
        node = node[elem]
    node[path[-1]] = value
    text = tomlkit.dumps(data)
    problems = issues_of(text)
    if problems is not None:
        assert problems and all(i.reason and i.line for i in problems), problems
        return
    assert oracle(data, parse_config(text), path, value) == []


def test_config_check_refuses_deep_nesting_and_bad_bytes_with_a_line(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    home = tmp_path / "box"
    run_cli(home, "init")
    deep = tmp_path / "deep.toml"
    deep.write_text("config_version = 1\ndeep = " + "[" * 3000 + "]" * 3000 + "\n")
    result = run_cli(home, "config", "check", str(deep), check=False)
    assert result.exit_code != 0 and "deep.toml:2" in result.output and "nested" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"config_version = 1\n# \xff\n")
    result = run_cli(home, "config", "check", str(bad), check=False)
    assert result.exit_code != 0 and "bad.toml:2" in result.output and "UTF-8" in result.output


def test_two_alarms_of_one_name_on_a_channel_are_refused() -> None:
    text = DEMO.replace('name = "hot_3h"', 'name = "A1"')
    doc = tomlkit.parse(text)
    motor = next(c for c in doc["channels"] if "sustained" in c.get("alarms", {}))
    motor["alarms"]["thresholds"] = {"levels": [{"name": "A1", "at": 90.0, "level": 2}]}
    exc = rejected(tomlkit.dumps(doc))
    assert "alarm name 'A1' is also used by" in str(exc), str(exc)
