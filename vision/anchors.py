"""SSD anchor boxes, generated as MediaPipe's ``SsdAnchorsCalculator`` does.

A raw SSD model predicts offsets from fixed anchors; decoding needs exactly the anchors it was
trained with. The defaults are those of MediaPipe's Open Images v4 SSD MobileNetV2 graph, the
model shipped in ``models/`` (1917 anchors for a 300x300 input).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field

from box.core.model import StrictModel


class AnchorOptions(StrictModel):
    num_layers: int = Field(default=6, ge=1, le=16)
    min_scale: float = Field(default=0.2, gt=0, le=1)
    max_scale: float = Field(default=0.95, gt=0, le=2)
    input_height: int = Field(default=300, ge=8)
    input_width: int = Field(default=300, ge=8)
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    strides: list[int] = Field(default_factory=lambda: [16, 32, 64, 128, 256, 512])
    aspect_ratios: list[float] = Field(default_factory=lambda: [1.0, 2.0, 0.5, 3.0, 0.3333])
    reduce_boxes_in_lowest_layer: bool = True
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) / 2
    return min_scale + (max_scale - min_scale) * index / (count - 1)


def ssd_anchors(o: AnchorOptions) -> Any:
    """(N, 4) float32 array of anchors as (y_center, x_center, height, width) fractions."""
    if len(o.strides) != o.num_layers:
        raise ValueError(f"{len(o.strides)} strides for {o.num_layers} layers")
    out: list[tuple[float, float, float, float]] = []
    layer = 0
    n = len(o.strides)
    while layer < o.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < n and o.strides[last] == o.strides[layer]:
            scale = _scale(o.min_scale, o.max_scale, last, n)
            if last == 0 and o.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ratio in o.aspect_ratios:
                    ratios.append(ratio)
                    scales.append(scale)
                if o.interpolated_scale_aspect_ratio > 0:
                    nxt = 1.0 if last == n - 1 else _scale(o.min_scale, o.max_scale, last + 1, n)
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(o.interpolated_scale_aspect_ratio)
            last += 1
        for ratio, scale in zip(ratios, scales, strict=True):
            root = math.sqrt(ratio)
            heights.append(scale / root)
            widths.append(scale * root)
        stride = o.strides[layer]
        fh = math.ceil(o.input_height / stride)
        fw = math.ceil(o.input_width / stride)
        for y in range(fh):
            for x in range(fw):
                yc = (y + o.anchor_offset_y) / fh
                xc = (x + o.anchor_offset_x) / fw
                for h, w in zip(heights, widths, strict=True):
                    out.append((yc, xc, 1.0, 1.0) if o.fixed_anchor_size else (yc, xc, h, w))
        layer = last
    return np.asarray(out, dtype=np.float32)
