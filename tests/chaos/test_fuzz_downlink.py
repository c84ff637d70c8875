"""Downlink envelopes from a hostile or broken upstream, into the real handler of a running box:
arbitrary bytes, mutations of a valid envelope, and correctly sealed bodies that are not what a
command should be. No exception escapes, every envelope leaves exactly one event (a command
or a rejection with its reason), and the alarms keep running."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from box.core.records import Event
from box.keys import FileKeyProvider
from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.sync.downlink import Downlink
from box.sync.envelope import CIPHER_NAMES, Header, Stream, key_id_bytes, seal
from box.sync.keyring import SyncKeyring
from sim.upstream import seal_command
from tests.chaos.fuzzing import chaos_settings
from tests.conftest import run_cli, sim_body, write_config

pytestmark = pytest.mark.slow


class Recording:
    """The box's facade, with the events the downlink submits also kept here."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self.events: list[Event] = []

    def submit_event(self, event: Event) -> None:
        self.events.append(event)
        self._api.submit_event(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


class Rig:
    def __init__(self, home: Path) -> None:
        body = sim_body(interval=0.05, step_at=0.2, step_back=3600)
        body = body.replace('name = "valve"', 'name = "valve"\nremote = true')
        write_config(
            home,
            '\n[sync]\nthreshold_bounds = { "t1.lel" = { A1 = [10.0, 25.0] } }\n' + body,
        )
        self.prov = json.loads(run_cli(home, "keys", "export").output)
        self.box = Daemon(BoxHome.under(home))
        self.box.start()
        self.api = Recording(self.box.api)
        keyring = SyncKeyring(FileKeyProvider(BoxHome.under(home).keys_dir))
        self.downlink = Downlink(self.api, keyring)  # type: ignore[arg-type]
        self.seq = 0

    def feed(self, data: bytes) -> Event:
        before = len(self.api.events)
        self.downlink.handle(data)  # an exception here fails the test: none may escape
        new = self.api.events[before:]
        assert len(new) == 1, f"one event per envelope, got {[e.kind for e in new]}"
        ev = new[0]
        assert ev.kind in ("downlink_command", "downlink_rejected")
        if ev.kind == "downlink_rejected":
            assert isinstance(ev.details["reason"], str) and ev.details["reason"].strip()
        return ev

    def next_seq(self) -> int:
        self.seq = max(self.seq, self.downlink.last_seq) + 1
        return self.seq

    def sealed(self, body: bytes, seq: int) -> bytes:
        key = bytes.fromhex(self.prov["downlink_key"])
        header = Header(
            CIPHER_NAMES[self.prov["cipher"]],
            0,
            Stream.COMMAND,
            self.prov["box_id"],
            key_id_bytes(key),
            seq,
            seq,
            os.urandom(12),
        )
        return seal(header, body, key)

    def alarms_alive(self) -> None:
        assert self.box.pipeline.is_alive() and self.box.writer.is_alive()
        assert self.box.engine.views, "the scripted A1 is still shown"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    home = tmp_path_factory.mktemp("downlink") / "box"
    run_cli(home, "init")
    r = Rig(home)
    deadline = time.monotonic() + 10
    while not r.box.engine.views and time.monotonic() < deadline:
        time.sleep(0.05)
    yield r
    r.box.stop()


@chaos_settings()
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes_are_rejected_with_a_reason(rig: Rig, data: bytes) -> None:
    assert rig.feed(data).kind == "downlink_rejected"


@chaos_settings()
@given(
    where=st.integers(min_value=0, max_value=10_000),
    how=st.sampled_from(["flip", "truncate", "insert", "delete", "swap"]),
    byte=st.integers(min_value=1, max_value=255),
)
def test_mutated_valid_envelopes_are_rejected(rig: Rig, where: int, how: str, byte: int) -> None:
    env = bytearray(seal_command(rig.prov, rig.next_seq(), "ack_alarm", {"alarm": "t1.lel:A1"}))
    i = where % len(env)
    if how == "flip":
        env[i] ^= byte
    elif how == "truncate":
        del env[i:]
    elif how == "insert":
        env.insert(i, byte)
    elif how == "delete":
        del env[i]
    else:
        j = (i + byte) % len(env)
        if env[i] == env[j]:
            env[i] ^= 0xFF
        env[i], env[j] = env[j], env[i]
    ev = rig.feed(bytes(env))
    assert ev.kind == "downlink_rejected", "a changed envelope is never executed"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@chaos_settings()
@given(body=json_values | st.binary(max_size=64))
def test_sealed_bodies_that_are_not_commands(rig: Rig, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert rig.feed(rig.sealed(raw, rig.next_seq())).kind == "downlink_rejected"


@chaos_settings()
@given(
    cmd=st.sampled_from(["ack_alarm", "set_threshold", "resend", "set_output", "reboot", ""]),
    args=st.dictionaries(
        st.sampled_from(
            [
                "alarm",
                "channel",
                "level",
                "at",
                "stream",
                "first",
                "last",
                "relay",
                "active",
                "note",
            ]
        ),  # fmt: skip
        json_values,
        max_size=5,
    )
    | json_values,
    who=json_values,
    skew_s=st.sampled_from([0, 1, -1, 400, -400, 10**9]),
)
def test_sealed_commands_with_arbitrary_arguments(
    rig: Rig, cmd: str, args: Any, who: Any, skew_s: int
) -> None:
    seq = rig.next_seq()
    body = {"seq": seq, "ts": int(time.time() * 1000) + skew_s * 1000, "cmd": cmd, "args": args,
            "who": who}  # fmt: skip
    ev = rig.feed(rig.sealed(json.dumps(body).encode(), seq))
    if abs(skew_s) > 300:
        assert ev.kind == "downlink_rejected" and "stale" in ev.details["reason"]
    rig.alarms_alive()


def test_a_deeply_nested_body_is_a_rejection_not_a_crash(rig: Rig) -> None:
    ev = rig.feed(rig.sealed(b"[" * 200_000 + b"]" * 200_000, rig.next_seq()))
    assert ev.kind == "downlink_rejected"
    rig.alarms_alive()
