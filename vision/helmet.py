"""Classical hard-hat baseline: the colour and shape of the head region above each person.

No licensed hard-hat model exists to ship, so this is a stand-in until a site drops in its own
(``models/``, by config). It looks at the top of each person box: a hard hat is a dome of one
saturated safety colour (yellow, orange, red, blue) or of white; hair, skin and a bare head are
not. Accuracy on real footage is unmeasured (see models/helmet_baseline.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vision.boxes import Box
from vision.settings import HelmetBaselineConfig


def hat_mask(bgr: Any) -> Any:
    """Pixels of a safety-helmet colour (uint8 mask)."""
    import cv2

    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    yellow_orange = (h >= 10) & (h <= 35) & (s >= 140) & (v >= 160)
    red = ((h <= 7) | (h >= 170)) & (s >= 140) & (v >= 120)
    blue = (h >= 100) & (h <= 130) & (s >= 140) & (v >= 100)
    white = (s <= 35) & (v >= 215)
    return ((yellow_orange | red | blue | white) * 255).astype(np.uint8)


def wears_helmet(bgr: Any, person: Box, cfg: HelmetBaselineConfig) -> tuple[bool, float]:
    """(wearing, cover) for one person box (fractions) in a BGR frame."""
    import cv2

    fh, fw = bgr.shape[:2]
    x, y, w, h = person
    hx1, hx2 = int((x + w * 0.2) * fw), int((x + w * 0.8) * fw)
    hy1, hy2 = int(y * fh), int((y + h * cfg.head_fraction) * fh)
    if hx2 - hx1 < 4 or hy2 - hy1 < 4:
        return False, 0.0  # too small to tell: counted as no helmet, the safe side
    mask = hat_mask(bgr[hy1:hy2, hx1:hx2])
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return False, 0.0
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[biggest, cv2.CC_STAT_AREA] / mask.size
    top = stats[biggest, cv2.CC_STAT_TOP] / mask.shape[0]
    # A dome sits on top: one blob covering a good part of the region, starting high.
    return bool(area >= cfg.min_cover and top <= 0.4), float(area)
