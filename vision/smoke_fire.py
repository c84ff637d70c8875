"""Classical smoke/fire baseline: colour, flicker and growth over time in moving regions.

Flames are red-to-yellow, saturated, and change shape every frame; a floodlight is whitish and
steady once on; smoke is grey, soft and spreads. The baseline keeps a short history of small
masks and calls fire only for fire-coloured pixels that move and flicker, smoke only for grey
moving regions that grow. A stand-in until a site drops in its own model; accuracy on real
footage is unmeasured (see models/smoke_fire_baseline.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from vision.boxes import Box, Found
from vision.settings import SmokeFireBaselineConfig

_KERNEL = np.ones((3, 3), np.uint8)


def fire_mask(small_bgr: Any) -> Any:
    import cv2

    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    b, g, r = (small_bgr[..., i].astype(np.int16) for i in range(3))
    flame = (h <= 35) & (s >= 100) & (v >= 170) & (r >= g) & (g >= b)
    return flame


def smoke_mask(small_bgr: Any) -> Any:
    import cv2

    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    s, v = hsv[..., 1], hsv[..., 2]
    return (s <= 40) & (v >= 90) & (v <= 230)


def _box(mask: Any) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    x1, y1 = xs.min() / w, ys.min() / h
    return (float(x1), float(y1), float((xs.max() + 1) / w - x1), float((ys.max() + 1) / h - y1))


def _flicker(masks: list[Any]) -> tuple[float, float]:
    """(mean shape change between frames with centroids aligned, mean centroid shift)."""
    changes, shifts = [], []
    prev = None
    for m in masks:
        ys, xs = np.nonzero(m)
        if xs.size == 0:
            prev = None
            continue
        cx, cy = int(xs.mean()), int(ys.mean())
        if prev is not None:
            pm, pcx, pcy = prev
            aligned = np.roll(pm, (cy - pcy, cx - pcx), axis=(0, 1))
            union = np.count_nonzero(aligned | m)
            if union:
                changes.append(np.count_nonzero(aligned ^ m) / union)
            shifts.append(abs(cx - pcx) / m.shape[1])
        prev = (m, cx, cy)
    if not changes:
        return 0.0, 0.0
    return float(np.mean(changes)), float(np.mean(shifts))


class SmokeFireBaseline:
    def __init__(self, cfg: SmokeFireBaselineConfig) -> None:
        self.cfg = cfg
        self._fire: deque[Any] = deque(maxlen=cfg.window)
        self._smoke_area: deque[float] = deque(maxlen=cfg.window)
        self.last_flicker = 0.0
        self.last_drift = 0.0

    def update(self, small_bgr: Any, motion_mask: Any, people: Sequence[Box] = ()) -> list[Found]:
        """One analysed frame (small BGR, the motion mask of the same size). Grey moving pixels
        inside ``people`` boxes are not smoke (a worker in grey overalls walking in)."""
        import cv2

        moving = cv2.dilate(motion_mask, _KERNEL, iterations=2) > 0
        fire = fire_mask(small_bgr)
        fire_now = fire & moving
        if self._fire:  # pixels that were fire and still are stay in (a flame's steady base)
            fire_now |= fire & self._fire[-1]
        self._fire.append(fire_now)
        found: list[Found] = []
        area = float(fire_now.mean())
        if len(self._fire) >= 4 and area >= self.cfg.min_area:
            self.last_flicker, self.last_drift = _flicker(list(self._fire))
            # A flame flickers in place; an orange thing walking by drifts (a hi-vis vest).
            if self.last_flicker >= self.cfg.flicker and self.last_drift <= self.cfg.max_drift:
                score = min(1.0, 0.5 + self.last_flicker)
                found.append(Found("fire", score, _box(fire_now)))
        if not self.cfg.smoke:
            return found
        smoke = smoke_mask(small_bgr) & moving
        h, w = smoke.shape
        for x, y, bw, bh in people:
            smoke[int(y * h) : int((y + bh) * h) + 1, int(x * w) : int((x + bw) * w) + 1] = False
        s_area = float(smoke.mean())
        self._smoke_area.append(s_area)
        first = self._smoke_area[0]
        if (
            len(self._smoke_area) == self._smoke_area.maxlen
            and s_area >= self.cfg.min_area * 5
            and first > 0
            and s_area / first >= self.cfg.smoke_growth
        ):
            found.append(Found("smoke", 0.5, _box(smoke)))
        return found
