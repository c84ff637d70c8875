"""Boxes found in a frame, intersection over union and non-maximum suppression.

Boxes are ``(x, y, w, h)`` as fractions of the frame (what ``Detection.box`` carries), so a
detection means the same at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Found:
    """One object a decoder found: a label, a score in [0, 1], a box (x, y, w, h fractions)."""

    label: str
    score: float
    box: Box
    class_id: int = -1


def iou(a: Box, b: Box) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def nms(
    corners: Any, scores: Any, classes: Any, iou_threshold: float, max_out: int = 100
) -> list[int]:
    """Indices kept by greedy per-class non-maximum suppression, best score first.

    ``corners`` is (N, 4) of x1, y1, x2, y2; boxes of different classes never suppress each
    other (a person in front of a car is both)."""
    corners = np.asarray(corners, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    if corners.shape[0] == 0:
        return []
    # Offsetting each class far apart makes one pass do per-class suppression.
    offset = classes.astype(np.float32)[:, None] * 4.0
    b = corners + offset
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_out:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = iw * ih
        union = area[i] + area[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[overlap <= iou_threshold]
    return keep


def clip_box(x1: float, y1: float, x2: float, y2: float) -> Box:
    """Corners (fractions, possibly outside the frame) to a clipped (x, y, w, h)."""
    x1, y1 = min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0)
    x2, y2 = min(max(x2, 0.0), 1.0), min(max(y2, 0.0), 1.0)
    return (x1, y1, max(0.0, x2 - x1), max(0.0, y2 - y1))
