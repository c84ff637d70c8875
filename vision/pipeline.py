"""One camera's analysis, frame by frame, inside the vision worker.

motion gate -> (model on the frame or on the moving region) -> per-detector filters, zones,
schedule and K-of-N persistence -> records: a Reading per detector channel (the number of
current violations; reported on change and every ``report_every_s``), Detection records and an
annotated Snapshot when a violation starts (and the Detections again every 10 s while it
lasts). Static scenes skip the model: the last result stands until something moves or
``motion.recheck_s`` passes.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from box.core.records import Detection, Quality, Reading, Snapshot, now_ms
from vision.annotate import annotate, jpeg, thumbnail
from vision.backends import Detector, load_detector
from vision.boxes import Found
from vision.config import LabelFilter, VisionOptions
from vision.helmet import wears_helmet
from vision.motion import Motion, MotionGate
from vision.persistence import Persistence
from vision.smoke_fire import SmokeFireBaseline
from vision.zones import zone_of

log = logging.getLogger(__name__)
THUMB_QUALITY = 60
REPEAT_DETECTIONS_S = 10.0
LOAD_WINDOW = 20  # frames in the load average


def _passes(f: Found, flt: LabelFilter) -> bool:
    return f.score >= flt.min_score and f.box[2] * f.box[3] >= flt.min_area


class CameraPipeline:
    def __init__(
        self,
        opts: VisionOptions,
        detector: Detector | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.opts = opts
        self.camera = opts.camera
        self.clock = clock
        needs_people = opts.intrusion.enabled or opts.helmet.enabled
        self.detector = detector
        if self.detector is None and needs_people:
            self.detector = load_detector(opts.backend, opts.model, opts.threads)
        self.gate = MotionGate(opts.motion)
        self.fire = SmokeFireBaseline(opts.smoke_fire.baseline)
        self.fire_model: Detector | None = None
        if opts.smoke_fire.enabled and opts.smoke_fire.model != "baseline":
            self.fire_model = load_detector(opts.backend, opts.smoke_fire.model, opts.threads)
        self.helmet_model: Detector | None = None
        if opts.helmet.enabled and opts.helmet.model != "baseline":
            self.helmet_model = load_detector(opts.backend, opts.helmet.model, opts.threads)
        self.state = {
            d: Persistence(c.persistence.k, c.persistence.n, c.persistence.clear_after)
            for d in opts.enabled()
            for c in [getattr(opts, d)]
        }
        self.counts = dict.fromkeys(self.state, 0)
        self._reported: dict[str, tuple[float, float]] = {}  # channel -> (value, at)
        self._last_found: list[Found] = []
        self._last_full = 0.0
        self._repeat_at: dict[str, float] = {}
        self.frames = 0
        self.model_runs = 0
        self.gated = 0  # frames the motion gate let skip the model
        self.cropped = 0
        self._times: list[float] = []
        self.budget_ms = 1000.0 / opts.fps_budget
        self.behind = False

    @property
    def load(self) -> float:
        """Mean analysis time over the budget per frame (> 1: behind)."""
        return (sum(self._times) / len(self._times)) / self.budget_ms if self._times else 0.0

    def process(self, bgr: Any, ts_ms: int) -> list[Any]:
        t0 = time.perf_counter()
        self.frames += 1
        now = time.monotonic()
        motion = self.gate.check(bgr) if self.opts.motion.enabled else Motion(True, 1.0, None)
        found = self._people(bgr, motion, now)
        out: list[Any] = []
        armed_at = self.clock()
        if "intrusion" in self.state:
            out += self._intrusion(bgr, found, ts_ms, armed_at)
        if "helmet" in self.state:
            out += self._helmet(bgr, found, ts_ms, armed_at)
        if "smoke_fire" in self.state:
            out += self._smoke_fire(bgr, motion, found, ts_ms, armed_at)
        self._times.append((time.perf_counter() - t0) * 1000)
        del self._times[:-LOAD_WINDOW]
        out += self._load(ts_ms, now)
        return out

    # -- the model, gated ---------------------------------------------------------------------

    def _people(self, bgr: Any, motion: Motion, now: float) -> list[Found]:
        if self.detector is None:
            return []
        due = now - self._last_full >= self.opts.motion.recheck_s
        if not motion.moved and not due:
            self.gated += 1
            return self._last_found
        self.model_runs += 1
        region = motion.region
        crop = (
            self.opts.motion.crop
            and region is not None
            and not due
            and region[2] * region[3] <= self.opts.motion.crop_max_area
        )
        rgb = bgr[..., ::-1]
        if crop and region is not None:
            self.cropped += 1
            h, w = bgr.shape[:2]
            x1, y1 = int(region[0] * w), int(region[1] * h)
            x2, y2 = int((region[0] + region[2]) * w), int((region[1] + region[3]) * h)
            sub = self.detector.detect(rgb[y1:y2, x1:x2])
            rx, ry, rw, rh = region
            mapped = [
                Found(
                    f.label,
                    f.score,
                    (rx + f.box[0] * rw, ry + f.box[1] * rh, f.box[2] * rw, f.box[3] * rh),
                    f.class_id,
                )
                for f in sub
            ]
            # What was found before outside the moving region is still there.
            kept = [f for f in self._last_found if not _centre_in(f.box, region)]
            found = mapped + kept
        else:
            self._last_full = now
            found = self.detector.detect(rgb)
        self._last_found = found
        return found

    # -- detectors ----------------------------------------------------------------------------

    def _zones(self, names: list[str]) -> dict[str, list[tuple[float, float]]]:
        return {n: self.opts.zones[n] for n in names}

    def _intrusion(self, bgr: Any, found: list[Found], ts: int, when: datetime) -> list[Any]:
        cfg = self.opts.intrusion
        zones = self._zones(cfg.zones)
        hits: list[tuple[Found, str]] = []
        if cfg.schedule is None or cfg.schedule.armed(when):
            for f in found:
                flt = cfg.labels.get(f.label)
                if flt is None or not _passes(f, flt):
                    continue
                zone = zone_of(f.box, zones)
                if zone is not None:
                    hits.append((f, zone))
        return self._decide("intrusion", hits, bgr, ts, zones)

    def _helmet(self, bgr: Any, found: list[Found], ts: int, when: datetime) -> list[Any]:
        cfg = self.opts.helmet
        zones = self._zones(cfg.zones)
        hits: list[tuple[Found, str]] = []
        if cfg.schedule is None or cfg.schedule.armed(when):
            if self.helmet_model is not None:
                heads = self.helmet_model.detect(bgr[..., ::-1])
                for f in heads:
                    if f.label == "no_helmet" and f.score >= cfg.person.min_score:
                        zone = zone_of(f.box, zones)
                        if zone is not None:
                            hits.append((f, zone))
            else:
                for f in found:
                    if f.label != "person" or not _passes(f, cfg.person):
                        continue
                    zone = zone_of(f.box, zones)
                    if zone is None:
                        continue
                    wearing, cover = wears_helmet(bgr, f.box, cfg.baseline)
                    if not wearing:
                        hits.append((Found("no_helmet", f.score * (1 - cover), f.box), zone))
        return self._decide("helmet", hits, bgr, ts, zones)

    def _smoke_fire(
        self, bgr: Any, motion: Motion, found: list[Found], ts: int, when: datetime
    ) -> list[Any]:
        import cv2

        cfg = self.opts.smoke_fire
        zones = self._zones(cfg.zones)
        if self.fire_model is not None:
            candidates = [
                f for f in self.fire_model.detect(bgr[..., ::-1]) if f.label in ("fire", "smoke")
            ]
        else:
            small = self.gate.small_bgr(bgr)
            mask = motion.mask
            if mask is None:  # gating off: everything counts as moving
                mask = np.full(small.shape[:2], 255, np.uint8)
            elif mask.shape != small.shape[:2]:
                mask = cv2.resize(mask, (small.shape[1], small.shape[0]))
            people = [f.box for f in found if f.label == "person"]
            candidates = self.fire.update(small, mask, people)
        hits: list[tuple[Found, str]] = []
        if cfg.schedule is None or cfg.schedule.armed(when):
            for f in candidates:
                if f.score >= cfg.min_score:
                    zone = zone_of(f.box, zones)
                    if zone is not None:
                        hits.append((f, zone))
        return self._decide("smoke_fire", hits, bgr, ts, zones)

    # -- persistence, records -----------------------------------------------------------------

    def _decide(
        self,
        detector: str,
        hits: list[tuple[Found, str]],
        bgr: Any,
        ts: int,
        zones: dict[str, list[tuple[float, float]]],
    ) -> list[Any]:
        p = self.state[detector]
        change = p.update(bool(hits))
        count = len(hits) if p.active else 0
        self.counts[detector] = count
        out: list[Any] = []
        now = time.monotonic()
        if change == "raised":
            ref = f"{self.camera}-{detector}-{ts}"
            out.append(self._snapshot(detector, hits, bgr, ts, zones, ref))
            out += self._detections(hits, ts, ref)
            self._repeat_at[detector] = now + REPEAT_DETECTIONS_S
            log.info("camera %s: %s raised (%d)", self.camera, detector, len(hits))
        elif p.active and hits and now >= self._repeat_at.get(detector, 0):
            out += self._detections(hits, ts, "")
            self._repeat_at[detector] = now + REPEAT_DETECTIONS_S
        out += self._report(detector, float(count), ts, now, change is not None)
        return out

    def _detections(self, hits: list[tuple[Found, str]], ts: int, ref: str) -> list[Detection]:
        return [
            Detection(
                self.camera,
                ts,
                f.label,
                round(f.score, 4),
                _rounded(f.box),
                zone,
                ref,
            )
            for f, zone in hits
        ]

    def _snapshot(
        self,
        detector: str,
        hits: list[tuple[Found, str]],
        bgr: Any,
        ts: int,
        zones: dict[str, list[tuple[float, float]]],
        ref: str,
    ) -> Snapshot:
        img = annotate(bgr, hits, zones or self.opts.zones, self.opts.snapshot_width)
        data = jpeg(img, self.opts.snapshot_quality)
        thumb = jpeg(thumbnail(img), THUMB_QUALITY)
        labels = ", ".join(f"{f.label} {f.score:.2f}" + (f" in {z}" if z else "") for f, z in hits)
        return Snapshot(
            self.camera,
            ts,
            ref,
            f"{self.camera}.{detector}",
            base64.b64encode(data).decode("ascii"),
            img.shape[1],
            img.shape[0],
            labels[:500],
            base64.b64encode(thumb).decode("ascii"),
        )

    def _report(
        self, channel: str, value: float, ts: int, now: float, force: bool
    ) -> list[Reading]:
        last = self._reported.get(channel)
        if not force and last is not None and last[0] == value:
            if now - last[1] < self.opts.report_every_s:
                return []
        self._reported[channel] = (value, now)
        return [Reading(channel, ts, value, Quality.GOOD)]

    def _load(self, ts: int, now: float) -> list[Reading]:
        load = round(self.load, 3)
        behind = load > 1.0 and len(self._times) >= LOAD_WINDOW // 2
        if behind != self.behind:
            self.behind = behind
            if behind:
                log.warning(
                    "camera %s: analysis behind its budget: %.0f ms per frame > %.0f ms "
                    "(fps_budget %.3g); frames are skipped, the newest analysed",
                    self.camera,
                    load * self.budget_ms,
                    self.budget_ms,
                    self.opts.fps_budget,
                )
        last = self._reported.get("load")
        if last is not None and now - last[1] < self.opts.report_every_s:
            return []
        self._reported["load"] = (load, now)
        return [Reading("load", ts or now_ms(), load, Quality.GOOD)]


def _rounded(b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    return (
        round(float(b[0]), 4),
        round(float(b[1]), 4),
        round(float(b[2]), 4),
        round(float(b[3]), 4),
    )


def _centre_in(box: tuple[float, float, float, float], region: tuple[float, ...]) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return region[0] <= cx <= region[0] + region[2] and region[1] <= cy <= region[1] + region[3]
