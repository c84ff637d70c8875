"""The push channel: Server-Sent Events from the box to every open page.

One thread (``web-push``) samples the box through its port at each source's own interval and
publishes a topic only when its data changed. Every open page holds one stream
(``GET /api/push?topics=alarms,readings``) that keeps, per topic, only the *latest* data not yet
sent: a slow page skips intermediate states and is never behind by more than one message per
topic, and memory stays bounded whatever the page does. Each topic carries its whole current
state (the alarm list, every channel's value), so a page that reconnects is complete after the
first message of each topic, and patching never depends on having seen every change.

Extending it (docs/WEB.md): an area module may declare ``PUSH = [PushSource(...)]`` beside its
``NAV``; the source's ``read(box)`` returns ``{topic: data}`` and is sampled every
``interval_s``. Code that knows the moment something changed calls ``publish(app, topic, data)``
instead. A page subscribes by listing the topic in its template's ``push_topics`` block and
calling ``SafetyBox.on(topic, fn)`` in its script (box/web/static/live.js).

Streams hold a cheroot worker thread for as long as they are open, so they are bounded
(``MAX_STREAMS``; one more is refused with 503 and the page retries) and the server's pool is
sized for them on top of the ordinary request threads (box/web/server.py). A stream ends after
``STREAM_LIFETIME_S`` (the page reconnects at once, and its login is checked again), when the
page goes away (detected at the next write, at most ``HEARTBEAT_S`` later) or when the server
stops.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from box.web.port import WebBox

log = logging.getLogger(__name__)

MAX_STREAMS = 16  # open pages at once; each holds one server thread
HEARTBEAT_S = 15.0  # a ping this often: proxies keep the stream, dead pages are found
STREAM_LIFETIME_S = 600.0  # then the page reconnects (and its session is checked again)
READINGS_MIN_MS = 250  # the fastest a page may ask for readings
READINGS_DEFAULT_MS = 1000
RATE_LIMITED = frozenset({"readings"})  # topics a page receives at most every readings_ms
IDLE_STOP_S = 5.0  # the sampler stops this long after the last stream closed


@dataclass(frozen=True)
class PushSource:
    """``read(box)`` returns ``{topic: data}`` (JSON-serialisable); sampled every
    ``interval_s`` while a page is connected. A raising source is logged and skipped."""

    name: str
    read: Callable[[WebBox], dict[str, Any]]
    interval_s: float = 0.5


def _alarms(box: WebBox) -> dict[str, Any]:
    s = box.alarm_summary()
    return {
        "alarms": {
            "alarms": s.get("alarms", []),
            "first_out": s.get("first_out"),
            "silenced_until": s.get("silenced_until"),
            "annunciation": s.get("annunciation"),
        },
        "outputs": s.get("outputs", {}),
    }


def _box(box: WebBox) -> dict[str, Any]:
    s = box.snapshot()
    sync = s.get("sync", {"enabled": False})
    return {
        "readings": s.get("channels", []),
        "box": {
            "healthy": s.get("healthy", True),
            "problems": s.get("problems", []),
            "drivers": s.get("drivers", []),
            # only what pages show: backlog counters would change at every sample
            "sync": {"enabled": sync.get("enabled", True), "connected": sync.get("connected")},
        },
    }


BUILTIN_SOURCES = (
    PushSource("alarms", _alarms, 0.1),  # alarm changes reach a page within ~0.1 s
    PushSource("box", _box, 0.5),
)


class _Stream:
    """One page's subscription: the latest unsent data per topic."""

    def __init__(self, topics: frozenset[str], readings_ms: int) -> None:
        self.topics = topics
        self.readings_s = readings_ms / 1000
        self.pending: dict[str, str] = {}  # topic -> JSON not yet sent
        self.last_sent: dict[str, float] = {}


class Hub:
    def __init__(self, box: WebBox, sources: list[PushSource], max_streams: int = MAX_STREAMS):
        self.box = box
        self.sources = list(sources)
        self.max_streams = max_streams
        self._cond = threading.Condition()
        self._streams: set[_Stream] = set()
        self._current: dict[str, str] = {}  # topic -> latest JSON
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._idle_since: float | None = None

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, topic: str, data: Any) -> None:
        """Send ``data`` as ``topic`` to every page subscribed to it, if it changed."""
        text = json.dumps(data, separators=(",", ":"), default=str)
        with self._cond:
            if self._current.get(topic) == text:
                return
            self._current[topic] = text
            for stream in self._streams:
                if topic in stream.topics:
                    stream.pending[topic] = text
            self._cond.notify_all()

    def _sample(self) -> None:
        due = {s.name: 0.0 for s in self.sources}
        while True:
            with self._cond:
                if self._closed:
                    return
                if not self._streams:
                    self._idle_since = self._idle_since or time.monotonic()
                    if time.monotonic() - self._idle_since > IDLE_STOP_S:
                        self._thread = None
                        self._current.clear()  # the next page gets fresh data at once
                        return
            now = time.monotonic()
            for source in self.sources:
                if now < due.get(source.name, 0.0):
                    continue
                due[source.name] = now + source.interval_s
                try:
                    topics = source.read(self.box)
                except Exception:  # a broken source must not stop the others
                    log.exception("push source %s failed", source.name)
                    continue
                for topic, data in topics.items():
                    self.publish(topic, data)
            wait = min(due.values(), default=now + 1.0) - time.monotonic()
            with self._cond:
                if not self._closed:
                    self._cond.wait(max(0.01, wait))

    def _ensure_sampler(self) -> None:
        # under self._cond
        self._idle_since = None
        if (self._thread is None or not self._thread.is_alive()) and not self._closed:
            self._thread = threading.Thread(target=self._sample, name="web-push", daemon=True)
            self._thread.start()

    # -- subscribing ---------------------------------------------------------------------------

    def open(self, topics: frozenset[str], readings_ms: int) -> _Stream | None:
        """A new stream, or None when ``max_streams`` are open already (or the hub closed)."""
        with self._cond:
            if self._closed or len(self._streams) >= self.max_streams:
                return None
            stream = _Stream(topics, readings_ms)
            stream.pending = {t: v for t, v in self._current.items() if t in topics}
            self._streams.add(stream)
            self._ensure_sampler()
            return stream

    def events(self, stream: _Stream, lifetime_s: float = STREAM_LIFETIME_S) -> Iterator[str]:
        """The stream's SSE text; ends after ``lifetime_s``, at close, or when the page left
        (the server's write raises and the generator is closed: ``finally`` forgets it)."""
        started = last_write = time.monotonic()
        try:
            yield "retry: 2000\n\n"
            while True:
                out: list[str] = []
                with self._cond:
                    while True:
                        now = time.monotonic()
                        if self._closed or now - started > lifetime_s:
                            return
                        ready, wake = self._ready(stream, now)
                        if ready or now - last_write >= HEARTBEAT_S:
                            break
                        self._cond.wait(max(0.01, min(wake, last_write + HEARTBEAT_S) - now))
                    for topic in ready:
                        self._seq += 1
                        data = stream.pending.pop(topic)
                        stream.last_sent[topic] = now
                        out.append(f"id: {self._seq}\nevent: {topic}\ndata: {data}\n\n")
                # The heartbeat is an event, not a comment: a page hears it, so a quiet box is
                # not mistaken for a lost connection.
                yield "".join(out) or "event: ping\ndata: {}\n\n"
                last_write = time.monotonic()
        finally:
            self._forget(stream)

    @staticmethod
    def _ready(stream: _Stream, now: float) -> tuple[list[str], float]:
        """Topics to send now, and when the next rate-limited one is due."""
        ready, wake = [], now + HEARTBEAT_S
        for topic in stream.pending:
            if topic in RATE_LIMITED:
                due = stream.last_sent.get(topic, 0.0) + stream.readings_s
                if now < due:
                    wake = min(wake, due)
                    continue
            ready.append(topic)
        return ready, wake

    def _forget(self, stream: _Stream) -> None:
        with self._cond:
            self._streams.discard(stream)
            self._cond.notify_all()

    def sample(self, topics: frozenset[str]) -> dict[str, Any]:
        """The current data of ``topics``, read now: a page embeds it, so it is complete
        before its stream opens."""
        out: dict[str, Any] = {}
        for source in self.sources:
            try:
                data = source.read(self.box)
            except Exception:
                log.exception("push source %s failed", source.name)
                continue
            out.update((t, v) for t, v in data.items() if t in topics)
        return out

    @property
    def open_streams(self) -> int:
        with self._cond:
            return len(self._streams)

    def close(self) -> None:
        """End every stream and the sampler (the server is stopping)."""
        with self._cond:
            self._closed = True
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)


def hub(app: Flask) -> Hub:
    h: Hub = app.extensions["safetybox.push"]
    return h


def publish(app: Flask, topic: str, data: Any) -> None:
    """Push ``data`` on ``topic`` to every subscribed page now (from any thread)."""
    hub(app).publish(topic, data)
