"""The push channel over the real server (cheroot) and a real daemon: what a page receives, how
fast, how often, and that open streams are bounded and never starve ordinary requests."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from box.paths import BoxHome
from box.runtime.daemon import Daemon
from box.web import create_app
from box.web.server import WebServer
from tests.conftest import free_port, run_cli, sim_body, wait_for, write_config


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    home = tmp_path / "box"
    run_cli(home, "init")
    write_config(home, sim_body(interval=0.05, step_at=0.3, step_back=3600))
    d = Daemon(BoxHome.under(home))
    d.start()
    yield d
    d.stop()


@pytest.fixture
def server(daemon: Daemon) -> Iterator[tuple[WebServer, int]]:
    port = free_port()
    app = create_app(daemon.api, {"PUSH_MAX_STREAMS": 2})
    web = WebServer(app, [f"127.0.0.1:{port}"], threads=2)
    web.start()
    yield web, port
    web.stop()


class Stream:
    """A minimal SSE client: (event, data) pairs as they arrive."""

    def __init__(self, port: int, token: str | None, query: str, timeout: float = 5.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn.request("GET", "/api/push?" + query, headers=headers)
        self.resp = self.conn.getresponse()

    def events(self, until: float) -> Iterator[tuple[str, dict]]:
        event, data = "", ""
        while time.monotonic() < until:
            line = self.resp.readline().decode()
            if not line:
                return
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and event:
                yield event, json.loads(data)
                event, data = "", ""

    def close(self) -> None:
        self.conn.close()


def test_a_page_gets_the_current_state_then_each_change(daemon, server) -> None:  # noqa: ANN001
    _, port = server
    wait_for(lambda: daemon.api.alarm_summary()["alarms"], what="the step alarm")
    s = Stream(port, daemon.api_token, "topics=alarms,readings,outputs,box")
    try:
        assert s.resp.status == 200 and s.resp.getheader("Content-Type", "").startswith(
            "text/event-stream"
        )
        first: dict[str, dict] = {}
        for event, data in s.events(time.monotonic() + 5):
            first.setdefault(event, data)
            if len(first) == 4:
                break
        assert set(first) == {"alarms", "readings", "outputs", "box"}
        assert first["alarms"]["alarms"][0]["state"] == "active_unack"
        assert first["readings"][0]["id"] == "t1.lel" and first["box"]["healthy"] is True
        daemon.api.ack("t1.lel:A1", "test")
        acked = time.monotonic()
        for event, data in s.events(time.monotonic() + 5):
            if event == "alarms" and data["alarms"][0]["state"] == "active_ack":
                break
        else:
            pytest.fail("no alarm change on the stream")
        assert time.monotonic() - acked < 2.0  # generous: measured by the browser test
    finally:
        s.close()


def test_readings_are_rate_limited_per_page(daemon, server) -> None:  # noqa: ANN001
    _, port = server
    s = Stream(port, daemon.api_token, "topics=readings&readings_ms=1000")
    try:
        started = time.monotonic()
        times = [time.monotonic() for e, _ in s.events(started + 3.2) if e == "readings"]
    finally:
        s.close()
    # The simulated channel changes every 50 ms; the page asked for one update a second.
    assert 2 <= len(times) <= 4, times
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g > 0.9 for g in gaps), gaps


def test_streams_are_bounded_and_never_starve_requests(daemon, server) -> None:  # noqa: ANN001
    web, port = server
    a = Stream(port, daemon.api_token, "topics=alarms")
    b = Stream(port, daemon.api_token, "topics=alarms")
    try:
        assert a.resp.status == b.resp.status == 200
        third = Stream(port, daemon.api_token, "topics=alarms")
        assert third.resp.status == 503 and b"too many open pages" in third.resp.read()
        third.close()
        # Two streams hold two workers; the two request threads still answer at once.
        for _ in range(4):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        a.close()
        b.close()
    hub = web._hub
    assert hub is not None
    # A page that went away is noticed at the next write (an alarm change or the heartbeat).
    daemon.api.ack("t1.lel:A1", "test") if daemon.api.alarm_summary()["alarms"] else None
    wait_for(lambda: hub.open_streams < 2, timeout=20, what="closed streams forgotten")


def test_no_stream_without_a_login(daemon, server) -> None:  # noqa: ANN001
    _, port = server
    s = Stream(port, None, "topics=alarms")
    assert s.resp.status == 401
    s.close()


def test_stopping_the_server_ends_open_streams(daemon) -> None:  # noqa: ANN001
    port = free_port()
    web = WebServer(create_app(daemon.api), [f"127.0.0.1:{port}"], threads=2)
    web.start()
    s = Stream(port, daemon.api_token, "topics=alarms")
    assert s.resp.status == 200
    started = time.monotonic()
    web.stop()
    assert time.monotonic() - started < 5
    s.close()


class _Box:
    """Just enough of a box for the hub: a counter it can read."""

    def __init__(self) -> None:
        self.n = 0


def test_a_slow_page_gets_the_latest_state_and_a_broken_source_stops_nothing() -> None:
    from box.web.push import Hub, PushSource

    box = _Box()

    def broken(_: object) -> dict:
        raise RuntimeError("a plug-in's bug")

    def counter(b: _Box) -> dict:
        b.n += 1
        return {"count": {"n": b.n}}

    hub = Hub(box, [PushSource("broken", broken, 0.01), PushSource("count", counter, 0.01)])  # type: ignore[arg-type]
    stream = hub.open(frozenset({"count", "extra"}), 1000)
    assert stream is not None
    events = hub.events(stream, lifetime_s=5)
    try:
        assert next(events).startswith("retry:")
        time.sleep(0.3)  # many samples while the page reads nothing
        first = next(events)
        assert first.count("event: count") == 1, "only the latest state, not a backlog"
        n = json.loads(first.split("data: ")[1])["n"]
        assert n >= 5 and box.n >= n
        hub.publish("extra", {"from": "code"})
        assert '"from":"code"' in next(events)
        hub.publish("nobody-listens", 1)
    finally:
        events.close()
    assert hub.open_streams == 0
    hub.close()
    assert hub.open(frozenset({"count"}), 1000) is None, "closed: no new streams"


def test_the_sampler_stops_when_no_page_listens(monkeypatch) -> None:  # noqa: ANN001
    import threading

    from box.web import push

    monkeypatch.setattr(push, "IDLE_STOP_S", 0.2)
    hub = push.Hub(_Box(), [push.PushSource("count", lambda b: {"count": 1}, 0.05)])  # type: ignore[arg-type]
    stream = hub.open(frozenset({"count"}), 1000)
    assert stream is not None
    events = hub.events(stream, lifetime_s=5)
    next(events)
    next(events)
    events.close()
    wait_for(lambda: not any(t.name == "web-push" for t in threading.enumerate()), timeout=5)
    stream = hub.open(frozenset({"count"}), 1000)  # a new page starts it again, with fresh data
    assert stream is not None and stream.pending == {}
    events = hub.events(stream, lifetime_s=5)
    next(events)
    assert "event: count" in next(events)
    events.close()
    hub.close()


def test_a_quiet_stream_pings_and_a_dead_sampler_is_replaced(monkeypatch) -> None:  # noqa: ANN001
    """Found in Chromium: the heartbeat was a comment, which a page never hears, so a page on a
    quiet box said "out of date" after 25 s; and a sampler thread that had ended was never
    started again."""
    import threading

    from box.web import push

    monkeypatch.setattr(push, "HEARTBEAT_S", 0.2)
    hub = push.Hub(_Box(), [push.PushSource("still", lambda b: {"still": 1}, 0.05)])  # type: ignore[arg-type]
    stream = hub.open(frozenset({"still"}), 1000)
    assert stream is not None
    events = hub.events(stream, lifetime_s=5)
    try:
        next(events)
        assert "event: still" in next(events)
        assert next(events) == "event: ping\ndata: {}\n\n", "nothing changed: a ping"
    finally:
        events.close()
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    hub._thread = dead  # as if the sampler had ended
    hub.publish("still", 2)
    stream = hub.open(frozenset({"still"}), 1000)
    assert stream is not None and hub._thread is not dead and hub._thread.is_alive()
    hub._forget(stream)
    hub.close()
