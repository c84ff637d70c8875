"""Annotated snapshots: boxes, labels, scores and zones drawn on the frame, as a small JPEG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vision.boxes import Found
from vision.zones import Point

COLOURS = {
    "person": (0, 200, 255),
    "no_helmet": (0, 0, 255),
    "fire": (0, 64, 255),
    "smoke": (160, 160, 160),
    "helmet": (0, 200, 0),
}  # BGR


def annotate(
    bgr: Any,
    found: Sequence[tuple[Found, str]],
    zones: Mapping[str, Sequence[Point]],
    max_width: int = 640,
) -> Any:
    import cv2

    img = bgr.copy()
    h, w = img.shape[:2]
    for name, poly in zones.items():
        pts = np.array([(int(x * w), int(y * h)) for x, y in poly], np.int32)
        cv2.polylines(img, [pts], True, (255, 255, 0), 2)
        cv2.putText(img, name, tuple(pts[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
    for f, zone in found:
        x, y, bw, bh = f.box
        p1, p2 = (int(x * w), int(y * h)), (int((x + bw) * w), int((y + bh) * h))
        colour = COLOURS.get(f.label, (255, 0, 255))
        cv2.rectangle(img, p1, p2, colour, 2)
        text = f"{f.label} {f.score:.2f}" + (f" in {zone}" if zone else "")
        cv2.putText(
            img,
            text,
            (p1[0], max(12, p1[1] - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            colour,
            1,
            cv2.LINE_AA,
        )
    if w > max_width:
        img = cv2.resize(img, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    return img


def jpeg(bgr: Any, quality: int = 75) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data.tobytes())


THUMB_WIDTH = 160


def thumbnail(bgr: Any, width: int = THUMB_WIDTH) -> Any:
    """A small copy of an annotated snapshot: what a site may send upstream instead of it."""
    import cv2

    h, w = bgr.shape[:2]
    if w <= width:
        return bgr
    return cv2.resize(bgr, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def caption(bgr: Any, text: str) -> Any:
    """A copy of the frame with ``text`` on a dark band at the top (ASCII shows; other
    characters are written as '?': OpenCV's fonts have no CJK)."""
    import cv2

    img = bgr.copy()
    ascii_text = text.encode("ascii", "replace").decode("ascii")[:80]
    band = max(18, img.shape[0] // 14)
    cv2.rectangle(img, (0, 0), (img.shape[1], band), (0, 0, 160), -1)
    scale = band / 30
    cv2.putText(
        img, ascii_text, (6, int(band * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
        max(1, int(scale * 2)), cv2.LINE_AA,
    )  # fmt: skip
    return img
