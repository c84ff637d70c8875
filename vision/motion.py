"""Motion gating on a downscaled grey image: run the model only when something moved.

A running-average background (so slow light changes are absorbed) is compared with each new
small frame; changed pixels above ``threshold`` make a mask whose area decides. The bounding
box of the mask (padded) is the region worth a closer look, so a small moving thing far from
the camera can be cropped and fed to the model at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.boxes import Box
from vision.settings import MotionConfig

_KERNEL = np.ones((3, 3), np.uint8)


@dataclass
class Motion:
    moved: bool
    area: float  # fraction of the frame that changed
    region: Box | None  # padded bounding box of the change (fractions), if any
    mask: Any = None  # the small mask (uint8), for the smoke/fire baseline


class MotionGate:
    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._bg: Any = None
        self._size: tuple[int, int] | None = None

    def small(self, bgr: Any) -> Any:
        import cv2

        h, w = bgr.shape[:2]
        sw = self.config.width
        sh = max(1, round(h * sw / w))
        grey = cv2.cvtColor(
            cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def small_bgr(self, bgr: Any) -> Any:
        """The frame at the gate's size, in colour (for the smoke/fire baseline)."""
        import cv2

        h, w = bgr.shape[:2]
        sw = self.config.width
        return cv2.resize(bgr, (sw, max(1, round(h * sw / w))), interpolation=cv2.INTER_AREA)

    def check(self, bgr: Any) -> Motion:
        import cv2

        grey = self.small(bgr)
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg = grey.astype(np.float32)
            return Motion(True, 1.0, None, np.full(grey.shape, 255, np.uint8))  # first frame
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._bg))
        _, mask = cv2.threshold(diff, self.config.threshold, 255, cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, _KERNEL, iterations=2)
        cv2.accumulateWeighted(grey, self._bg, self.config.alpha)
        area = float(np.count_nonzero(mask)) / mask.size
        if area < self.config.min_area:
            return Motion(False, area, None, mask)
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        x1, x2, y1, y2 = xs.min() / w, (xs.max() + 1) / w, ys.min() / h, (ys.max() + 1) / h
        pad_x, pad_y = (x2 - x1) * 0.25 + 0.02, (y2 - y1) * 0.25 + 0.02
        x1, y1 = max(0.0, x1 - pad_x), max(0.0, y1 - pad_y)
        x2, y2 = min(1.0, x2 + pad_x), min(1.0, y2 + pad_y)
        region = (float(x1), float(y1), float(x2 - x1), float(y2 - y1))
        return Motion(True, area, region, mask)
