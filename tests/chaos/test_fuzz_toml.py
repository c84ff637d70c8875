"""Arbitrary TOML into the config loader: random text, random valid TOML documents, and random
tables grafted into a valid config at every section. Either a config comes back or a
ConfigInvalid that lists each problem with a reason; no other exception, ever. (Mutations of
a valid document, the specific loopholes and documents nested thousands deep are the
config-validation tests' job.)"""

from __future__ import annotations

from typing import Any

import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from box.config.loader import ConfigInvalid, parse_config
from tests.chaos.fuzzing import EXAMPLES, chaos_settings
from tests.conftest import sim_body

BASE = "config_version = 1\n" + sim_body()
SECTIONS = ["store", "outputs", "web", "sync", "alarms", "channels", "drivers", "profiles",
            "device_templates", "channel_templates", "outputs.relays"]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["sim", "modbus", "gas_lel", "%LEL", "mock", "A1", "t1.lel", "17"])
)
keys = st.text(max_size=10) | st.sampled_from(
    ["id", "kind", "unit", "pin", "at", "level", "levels", "type", "name", "interval_s",
     "range", "channels", "alarms", "thresholds", "enabled", "port", "listen", "points"]
)  # fmt: skip
toml_values = st.recursive(
    scalars.filter(lambda v: v is not None),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
)


def load(text: str) -> None:
    refusal: ConfigInvalid | None = None
    try:
        parse_config(text)
    except ConfigInvalid as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.issues, "a refusal lists its problems"
        for issue in refusal.issues:
            assert issue.reason.strip(), issue
            assert "Traceback" not in issue.reason


@chaos_settings()
@given(text=st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    load(text)


@chaos_settings(examples=max(100, EXAMPLES // 2))
@given(doc=st.dictionaries(keys, toml_values, max_size=6))
def test_arbitrary_toml_documents(doc: dict[str, Any]) -> None:
    load(tomli_w.dumps(doc))


@chaos_settings(examples=max(100, EXAMPLES // 2))
@given(section=st.sampled_from(SECTIONS), table=st.dictionaries(keys, toml_values, max_size=5))
def test_random_tables_grafted_into_a_valid_config(section: str, table: dict[str, Any]) -> None:
    import tomllib

    doc = tomllib.loads(BASE)
    node: Any = doc
    parts = section.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    last = parts[-1]
    if isinstance(node.get(last), list):
        node[last] = [*node[last], table]
    elif isinstance(node.get(last), dict):
        node[last] = {**node[last], **table}
    else:
        node[last] = table
    load(tomli_w.dumps(doc))
