"""The ``camera`` driver: capture in this process, analysis in a supervised child.

Three threads per camera: OpenCV capture (``drivers.camera.capture``, newest frame only), the
feeder (this driver's ``run``: takes the newest frame at most ``fps_budget`` times a second,
resizes it and hands it to the worker through shared memory: frames beyond the budget are
skipped by policy, never queued), and the worker supervisor (a ``box.workers`` process driver
restarted with backoff whenever its child crashes, hangs or outgrows its memory).

Faults are per camera and loud: while no frames arrive for ``no_frames_fault_s``, or while the
worker is down, every channel of the camera is reported *bad* with the reason, so each one's
fault alarm sounds; the first good result clears them. The alarm engine never waits on any of
this.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections import deque
from typing import Any

from box.core.levels import Level
from box.core.ports import RecordSink
from box.core.records import Detection, Event, Quality, Reading, Snapshot, now_ms
from box.workers.config import FramesConfig, ProcessDriverConfig
from box.workers.driver import ProcessDriver, WorkerFailed
from box.workers.protocol import RestrictedDecoder
from drivers.base import Driver
from drivers.camera.capture import Capture
from vision import live
from vision.config import CameraDriverConfig
from vision.framepack import pack, ring_shape

log = logging.getLogger(__name__)
FAULT_REPEAT_S = 1.0
MAX_SNAPSHOT_B64 = 4 * 1024 * 1024
MAX_THUMB_B64 = 64 * 1024


class VisionProcess(ProcessDriver):
    """The process driver, accepting this camera's detections and snapshots as well."""

    def __init__(self, config: ProcessDriverConfig, sink: RecordSink, camera: str) -> None:
        super().__init__(config, sink)
        self.checks[Detection] = _detection_check(camera)
        self.checks[Snapshot] = _snapshot_check(camera)
        self._decoder = RestrictedDecoder([*self.checks, Quality])


def _detection_check(camera: str) -> Any:
    def check(d: Detection) -> Detection:
        if d.camera != camera:
            raise ValueError(f"detection for camera {d.camera!r}, expected {camera!r}")
        box = tuple(float(v) for v in d.box)
        if len(box) != 4 or not all(math.isfinite(v) and -0.01 <= v <= 1.01 for v in box):
            raise ValueError(f"box {d.box!r} is not 4 fractions")
        score = float(d.score)
        if not 0 <= score <= 1:
            raise ValueError(f"score {d.score!r} outside 0..1")
        if type(d.ts_ms) is not int or d.ts_ms <= 0:
            raise ValueError(f"ts_ms {d.ts_ms!r} is not a positive int")
        return Detection(
            camera,
            d.ts_ms,
            str(d.label)[:64],
            score,
            box,
            str(d.zone)[:64],  # type: ignore[arg-type]
            str(d.snapshot)[:128],
        )

    return check


def _snapshot_check(camera: str) -> Any:
    def check(s: Snapshot) -> Snapshot:
        if s.camera != camera or not str(s.channel).startswith(f"{camera}."):
            raise ValueError(f"snapshot of {s.camera!r}/{s.channel!r}, expected {camera!r}")
        if not isinstance(s.jpeg_b64, str) or len(s.jpeg_b64) > MAX_SNAPSHOT_B64:
            raise ValueError("snapshot JPEG missing or larger than 4 MB")
        if type(s.ts_ms) is not int or s.ts_ms <= 0:
            raise ValueError(f"ts_ms {s.ts_ms!r} is not a positive int")
        return Snapshot(
            camera,
            s.ts_ms,
            str(s.ref)[:128],
            str(s.channel)[:128],
            s.jpeg_b64,
            int(s.width),
            int(s.height),
            str(s.labels)[:500],
            s.thumb_b64
            if isinstance(s.thumb_b64, str) and len(s.thumb_b64) <= MAX_THUMB_B64
            else "",
        )

    return check


def _thumb(value: object) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_THUMB_B64 else ""


class BudgetWatch:
    """Whether a camera's analysis keeps up with its frame budget, from the ``<cam>.load``
    readings (mean analysis time over the budget per frame): crossing above 1 is a
    ``vision_behind`` event (frames are skipped, the newest analysed; the backend never
    changes), falling back to 1 or below a ``vision_caught_up`` one."""

    def __init__(self, camera: str, fps_budget: float) -> None:
        self.camera = camera
        self.fps_budget = fps_budget
        self.channel = f"{camera}.load"
        self.behind = False

    def events(self, batch: Any) -> list[Event]:
        out = []
        for r in batch:
            if type(r) is not Reading or r.channel != self.channel or r.value is None:
                continue
            behind = r.value > 1.0
            if behind == self.behind:
                continue
            self.behind = behind
            kind, level = (
                ("vision_behind", Level.LEVEL_3) if behind else ("vision_caught_up", Level.INFO)
            )
            detail = {"camera": self.camera, "load": r.value, "fps_budget": self.fps_budget}
            if behind:
                detail["policy"] = "frames beyond the budget are skipped; the newest is analysed"
            out.append(Event(kind, f"camera:{self.camera}", r.ts_ms, level, detail))
        return out


class CameraDriver(Driver):
    type_key = "camera"
    config_model = CameraDriverConfig
    config: CameraDriverConfig

    def __init__(self, config: CameraDriverConfig, sink: RecordSink) -> None:
        super().__init__(config, sink)
        c = config
        opts = c.options()
        worker_channels = {d: f"{c.name}.{d}" for d in opts.enabled()}
        worker_channels["load"] = f"{c.name}.load"
        self.channels = list(worker_channels.values())
        h, w, d = ring_shape(c.width, c.height)
        self.worker = VisionProcess(
            ProcessDriverConfig(
                type="process",
                name=c.name,
                worker="vision.worker:run",
                options=opts.model_dump(mode="json"),
                channels=worker_channels,
                heartbeat_timeout_s=c.heartbeat_timeout_s,
                start_timeout_s=c.start_timeout_s,
                memory_limit_mb=c.memory_limit_mb,
                max_rss_mb=c.max_rss_mb,
                backoff_start_s=c.backoff_start_s,
                backoff_max_s=max(c.backoff_max_s, c.backoff_start_s),
                frames=FramesConfig(slots=3, width=w, height=h, depth=d),
            ),
            self._from_worker,
            c.name,
        )
        self.capture: Capture | None = None
        self.worker_up = False
        self.worker_error = ""
        self.worker_restarts = 0
        self.frames_sent = 0
        self.frames_skipped = 0  # newest-frame policy: captured but never analysed
        self.last_result_at: float | None = None
        self._fault_sent_at = 0.0
        self._fault_reason = ""
        self._thread: threading.Thread | None = None
        self._buf: Any = None
        # Alarms elsewhere that name this camera (positioning zones link cameras): snapshot
        # requests, taken from the next frame by the feeder thread. Bounded: a camera that is
        # down keeps the newest few, never piles up.
        self._linked: deque[Event] = deque(maxlen=8)
        self.linked_snapshots = 0
        self.budget = BudgetWatch(c.name, c.fps_budget)

    # -- Driver -------------------------------------------------------------------------------

    def start(self) -> None:
        c = self.config
        self.capture = Capture(
            c.name,
            c.url,
            timeout_s=c.open_timeout_s,
            backoff_start_s=c.backoff_start_s,
            backoff_max_s=c.backoff_max_s,
        ).start()
        self.worker.start()

    def run(self, stop: threading.Event) -> None:
        halt = threading.Event()  # ours: the supervisor's ``stop`` is not ours to set
        self._thread = threading.Thread(
            target=self._supervise_worker,
            args=(halt,),
            name=f"vision-{self.config.name}",
            daemon=True,
        )
        self._thread.start()
        try:
            self._feed(stop)
        finally:
            halt.set()
            self._thread.join(10)

    def stop(self) -> None:
        if self.capture is not None:
            self.capture.stop()
        self.worker.stop()
        live.forget(self.config.name)

    def notice(self, event: Event) -> None:
        """An alarm raised elsewhere that links this camera (an SOS, an unauthorised entry, a
        man-down in a zone with ``cameras``): the next frame is stored as its snapshot."""
        if event.kind != "alarm_raised":
            return
        detail = event.details.get("detail")
        cameras = event.details.get("cameras") or (
            detail.get("cameras") if isinstance(detail, dict) else None
        )
        if isinstance(cameras, list) and self.config.name in cameras:
            self._linked.append(event)

    def diagnostics(self) -> dict[str, Any]:
        cap = self.capture.health() if self.capture is not None else {}
        return {
            "camera": cap,
            "worker_running": self.worker_up,
            "worker_pid": self.worker.worker_pid,
            "worker_restarts": self.worker_restarts,
            "worker_error": self.worker_error,
            "frames_analysed_sent": self.frames_sent,
            "frames_skipped_by_budget": self.frames_skipped,
            "fps_budget": self.config.fps_budget,
            "fault": self._fault_reason,
            "linked_snapshots": self.linked_snapshots,
            "behind_budget": self.budget.behind,
        }

    # -- threads ------------------------------------------------------------------------------

    def _supervise_worker(self, stop: threading.Event) -> None:
        c = self.config
        delay = c.backoff_start_s
        while not stop.is_set():
            self.worker_up = True
            started = time.monotonic()
            try:
                self.worker.run(stop)
                return
            except WorkerFailed as exc:
                self.worker_error = str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure: restart, never stop capture
                self.worker_error = f"{type(exc).__name__}: {exc}"
            self.worker_up = False
            self.worker_restarts += 1
            log.error(
                "camera %s: vision worker failed (%s); restart in %.1f s",
                c.name,
                self.worker_error,
                delay,
            )
            self._fault(f"vision worker not running: {self.worker_error}", force=True)
            if time.monotonic() - started > 60:
                delay = c.backoff_start_s  # it ran a while: start the backoff over
            stop.wait(delay)
            delay = min(delay * 2, c.backoff_max_s)

    def _feed(self, stop: threading.Event) -> None:
        import cv2

        c = self.config
        cap = self.capture
        assert cap is not None  # noqa: S101 - start() ran
        period = 1.0 / c.fps_budget
        seq = 0
        next_at = time.monotonic()
        while not stop.is_set():
            frame = cap.wait(seq, min(period * 2, 1.0))
            now = time.monotonic()
            if frame is None:
                silent = cap.silent_for(now)
                if silent >= c.no_frames_fault_s:
                    why = cap.last_error or "stream stalled"
                    self._fault(f"no frames from camera for {silent:.0f} s ({why})")
                elif not self.worker_up:
                    self._fault(f"vision worker not running: {self.worker_error}")
                continue
            self.frames_skipped += max(0, frame.seq - seq - 1)
            seq = frame.seq
            if not self.worker_up:
                self._fault(f"vision worker not running: {self.worker_error}")
            img = frame.image
            if img.shape[1] != c.width or img.shape[0] != c.height:
                img = cv2.resize(img, (c.width, c.height), interpolation=cv2.INTER_AREA)
            if live.due(c.name):
                live.publish(c.name, img, frame.ts_ms)
            while self._linked:
                self._snapshot_for(self._linked.popleft(), img)
            self._buf = pack(img, frame.ts_ms, self._buf)
            if self.worker.send_frame(self._buf):
                self.frames_sent += 1
            # Pace to the budget: frames arriving meanwhile replace each other in the capture.
            next_at = max(next_at + period, now)
            stop.wait(max(0.0, next_at - time.monotonic()))

    def _snapshot_for(self, event: Event, img: Any) -> None:
        """The frame as the snapshot of ``event`` (linked by its source and time, like a camera
        alarm's own), captioned with what happened."""
        from vision.annotate import caption, jpeg, thumbnail

        try:
            d = event.details
            raw = d.get("detail")
            detail: dict[str, Any] = raw if isinstance(raw, dict) else d
            words = [str(d.get("name") or d.get("alarm") or event.kind)]
            words += [str(detail[k]) for k in ("person", "zone") if detail.get(k)]
            shot = caption(img, " - ".join(words))
            data, thumb = jpeg(shot, 70), jpeg(thumbnail(shot), 60)
        except Exception:  # noqa: BLE001 - a failed snapshot must not stop the feed
            log.exception(
                "camera %s: linked snapshot for %s failed", self.config.name, event.source
            )
            return
        self.linked_snapshots += 1
        self.sink(
            [
                Snapshot(
                    self.config.name,
                    event.ts_ms,
                    f"{self.config.name}:{d.get('alarm', event.source)}:{event.ts_ms}",
                    event.source,
                    base64.b64encode(data).decode("ascii"),
                    int(shot.shape[1]),
                    int(shot.shape[0]),
                    " - ".join(words)[:500],
                    base64.b64encode(thumb).decode("ascii"),
                )
            ]
        )

    def _from_worker(self, batch: Any) -> None:
        self.last_result_at = time.monotonic()
        if self._fault_reason:
            log.info(
                "camera %s: analysis running again (%s cleared)",
                self.config.name,
                self._fault_reason,
            )
            self._fault_reason = ""
        self.sink(batch)
        events = self.budget.events(batch)
        if events:
            self.sink(events)

    def _fault(self, reason: str, force: bool = False) -> None:
        """Every channel of this camera bad with ``reason`` (repeated, so none goes stale)."""
        now = time.monotonic()
        if (
            not force
            and reason == self._fault_reason
            and now - self._fault_sent_at < FAULT_REPEAT_S
        ):
            return
        if reason != self._fault_reason:
            log.warning("camera %s: %s", self.config.name, reason)
        self._fault_reason, self._fault_sent_at = reason, now
        ts = now_ms()
        self.sink([Reading(ch, ts, None, Quality.BAD, reason) for ch in self.channels])
