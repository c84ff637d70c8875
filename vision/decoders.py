"""Output decoders: a model's output tensors to boxes, each followed by non-maximum suppression.

Three layouts cover the models a site is likely to drop in:

- ``ssd_raw``: box encodings against anchors and per-class logits (the shipped person model);
- ``ssd_postprocessed``: TFLite's ``TFLite_Detection_PostProcess`` outputs (boxes, classes,
  scores, count), as exported by the TF Object Detection API;
- ``yolo``: raw YOLO heads, ``yolov5`` layout (N, 5 + C: cx, cy, w, h, objectness, classes) or
  ``yolov8`` layout (4 + C, N: cx, cy, w, h, classes; no objectness).

Outputs arrive dequantised to float32 (``vision.runner``), so int8 models decode the same way.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from box.core.model import StrictModel
from vision.anchors import AnchorOptions, ssd_anchors
from vision.boxes import Found, clip_box, nms

OutputRef = str | int  # an output tensor by name or by position


class _DecoderBase(StrictModel):
    min_score: float = Field(default=0.3, ge=0, le=1, description="candidates below are dropped")
    iou_threshold: float = Field(default=0.5, gt=0, le=1, description="non-maximum suppression")
    max_detections: int = Field(default=50, ge=1, le=1000)

    def _finish(self, corners: Any, scores: Any, classes: Any, labels: list[str]) -> list[Found]:
        keep = nms(corners, scores, classes, self.iou_threshold, self.max_detections)
        found = []
        for i in keep:
            x1, y1, x2, y2 = (float(v) for v in corners[i])
            cid = int(classes[i])
            label = labels[cid] if 0 <= cid < len(labels) else f"class_{cid}"
            found.append(Found(label, float(scores[i]), clip_box(x1, y1, x2, y2), cid))
        return found


def pick(outputs: dict[str, Any], order: list[str], ref: OutputRef) -> Any:
    """An output by name (exact, or the only one containing it) or by index."""
    if isinstance(ref, int):
        if not 0 <= ref < len(order):
            raise ValueError(f"output index {ref} out of range (model has {len(order)})")
        return outputs[order[ref]]
    if ref in outputs:
        return outputs[ref]
    matches = [name for name in order if ref in name]
    if len(matches) != 1:
        raise ValueError(f"output {ref!r} matches {matches or 'none'} of {order}")
    return outputs[matches[0]]


class RawSsdDecoder(_DecoderBase):
    kind: Literal["ssd_raw"] = "ssd_raw"
    boxes_output: OutputRef = 0
    scores_output: OutputRef = 1
    anchors: AnchorOptions = Field(default_factory=AnchorOptions)
    x_scale: float = 10.0
    y_scale: float = 10.0
    h_scale: float = 5.0
    w_scale: float = 5.0
    sigmoid: bool = True
    ignore_classes: list[int] = Field(default_factory=lambda: [0], description="0: background")

    @cached_property
    def anchor_array(self) -> Any:
        return ssd_anchors(self.anchors)

    def decode(self, outputs: dict[str, Any], order: list[str], labels: list[str]) -> list[Found]:
        enc = np.asarray(pick(outputs, order, self.boxes_output), dtype=np.float32)
        logits = np.asarray(pick(outputs, order, self.scores_output), dtype=np.float32)
        enc = enc.reshape(-1, 4)
        logits = logits.reshape(enc.shape[0], -1)
        anchors = self.anchor_array
        if anchors.shape[0] != enc.shape[0]:
            raise ValueError(f"model has {enc.shape[0]} boxes, the anchors {anchors.shape[0]}")
        masked = logits.copy()
        masked[:, [c for c in self.ignore_classes if c < masked.shape[1]]] = -np.inf
        classes = np.argmax(masked, axis=1)
        best = masked[np.arange(masked.shape[0]), classes]
        # Sigmoid is monotonic: threshold on the logit, transform only the candidates.
        if self.sigmoid:
            p = min(max(self.min_score, 1e-7), 1 - 1e-7)
            cut = math.log(p / (1 - p))
        else:
            cut = self.min_score
        idx = np.nonzero(best >= cut)[0]
        if idx.size == 0:
            return []
        scores = best[idx]
        if self.sigmoid:
            scores = 1.0 / (1.0 + np.exp(-scores))
        e, a = enc[idx], anchors[idx]
        yc = e[:, 0] / self.y_scale * a[:, 2] + a[:, 0]
        xc = e[:, 1] / self.x_scale * a[:, 3] + a[:, 1]
        h = np.exp(e[:, 2] / self.h_scale) * a[:, 2]
        w = np.exp(e[:, 3] / self.w_scale) * a[:, 3]
        corners = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
        return self._finish(corners, scores, classes[idx], labels)


class PostprocessedSsdDecoder(_DecoderBase):
    kind: Literal["ssd_postprocessed"] = "ssd_postprocessed"
    boxes_output: OutputRef = 0  # (1, N, 4) ymin, xmin, ymax, xmax fractions
    classes_output: OutputRef = 1  # (1, N) class index
    scores_output: OutputRef = 2  # (1, N) score
    count_output: OutputRef | None = 3  # (1,) valid rows
    label_offset: int = Field(default=0, description="added to the class index for the label")

    def decode(self, outputs: dict[str, Any], order: list[str], labels: list[str]) -> list[Found]:
        boxes = np.asarray(pick(outputs, order, self.boxes_output), dtype=np.float32)
        boxes = boxes.reshape(-1, 4)
        classes = np.asarray(pick(outputs, order, self.classes_output)).reshape(-1)
        scores = np.asarray(pick(outputs, order, self.scores_output), dtype=np.float32)
        scores = scores.reshape(-1)
        n = boxes.shape[0]
        if self.count_output is not None:
            n = min(n, int(np.asarray(pick(outputs, order, self.count_output)).reshape(-1)[0]))
        boxes, classes, scores = boxes[:n], classes[:n], scores[:n]
        ok = scores >= self.min_score
        b = boxes[ok]
        corners = np.stack([b[:, 1], b[:, 0], b[:, 3], b[:, 2]], axis=1)
        cls = np.round(classes[ok]).astype(np.int64) + self.label_offset
        return self._finish(corners, scores[ok], cls, labels)


class YoloDecoder(_DecoderBase):
    kind: Literal["yolo"] = "yolo"
    output: OutputRef = 0
    layout: Literal["yolov5", "yolov8"] = "yolov8"
    coords: Literal["normalized", "pixels"] = Field(
        default="pixels", description="pixels: of the model input (divided by its size)"
    )

    def decode(
        self,
        outputs: dict[str, Any],
        order: list[str],
        labels: list[str],
        input_size: tuple[int, int] = (1, 1),
    ) -> list[Found]:
        raw = np.asarray(pick(outputs, order, self.output), dtype=np.float32)
        raw = raw.reshape(raw.shape[-2], raw.shape[-1])
        if self.layout == "yolov8":
            rows = raw.T  # (N, 4 + C)
            cls_scores = rows[:, 4:]
        else:
            rows = raw  # (N, 5 + C)
            cls_scores = rows[:, 5:] * rows[:, 4:5]
        if cls_scores.shape[1] == 0:
            raise ValueError(f"YOLO output {raw.shape} has no class columns")
        classes = np.argmax(cls_scores, axis=1)
        scores = cls_scores[np.arange(rows.shape[0]), classes]
        ok = scores >= self.min_score
        r = rows[ok]
        sx, sy = (input_size[1], input_size[0]) if self.coords == "pixels" else (1, 1)
        xc, yc, w, h = r[:, 0] / sx, r[:, 1] / sy, r[:, 2] / sx, r[:, 3] / sy
        corners = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
        return self._finish(corners, scores[ok], classes[ok], labels)


DecoderConfig = Annotated[
    RawSsdDecoder | PostprocessedSsdDecoder | YoloDecoder, Field(discriminator="kind")
]
