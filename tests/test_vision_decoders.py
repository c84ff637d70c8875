"""Output decoders and NMS against hand-made tensors: every number here is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision.anchors import AnchorOptions, ssd_anchors
from vision.boxes import iou, nms
from vision.decoders import PostprocessedSsdDecoder, RawSsdDecoder, YoloDecoder

LABELS = ["background", "person", "car"]


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_the_oidv4_anchors_are_1917_and_match_mediapipe_layer_by_layer() -> None:
    a = ssd_anchors(AnchorOptions())
    assert a.shape == (1917, 4)
    # Lowest layer (stride 16, 19x19 cells, 3 reduced boxes): first cell centre, scale 0.1.
    assert a[0].tolist() == pytest.approx([0.5 / 19, 0.5 / 19, 0.1, 0.1])
    assert a[1].tolist() == pytest.approx([0.5 / 19, 0.5 / 19, 0.2 / 2**0.5, 0.2 * 2**0.5])
    # The last layer: one cell, 6 boxes; its interpolated box uses scale sqrt(0.95 * 1.0).
    last = a[-1]
    assert last.tolist() == pytest.approx([0.5, 0.5, 0.95**0.5, 0.95**0.5])
    # Second layer (stride 32, 10x10 cells): scale 0.2 + 0.75 / 5 = 0.35 at ratio 1.
    assert a[19 * 19 * 3].tolist() == pytest.approx([0.05, 0.05, 0.35, 0.35])


def test_raw_ssd_decodes_offsets_against_the_anchor_with_mediapipe_scales() -> None:
    dec = RawSsdDecoder(
        anchors=AnchorOptions(
            num_layers=1,
            strides=[300],
            min_scale=0.5,
            max_scale=0.5,
            aspect_ratios=[1.0],
            reduce_boxes_in_lowest_layer=False,
            interpolated_scale_aspect_ratio=0.0,
        )
    )
    anchors = dec.anchor_array
    assert anchors.tolist() == [[0.5, 0.5, 0.5, 0.5]]
    # ty = 1 moves the centre by 1/10 of the anchor height; th = 5 * ln 2 doubles the height.
    enc = np.array([[[1.0, -2.0, 5 * math.log(2), 0.0]]], np.float32)
    logits = np.array([[[5.0, logit(0.9), logit(0.2)]]], np.float32)
    (f,) = dec.decode({"b": enc, "s": logits}, ["b", "s"], LABELS)
    assert f.label == "person" and f.score == pytest.approx(0.9, abs=1e-5)
    # yc = 0.5 + 1/10 * 0.5 = 0.55, xc = 0.5 - 2/10 * 0.5 = 0.4, h = 1.0, w = 0.5: corners
    # x 0.15..0.65, y 0.05..1.05, clipped to the frame at y = 1.
    assert f.box == pytest.approx((0.15, 0.05, 0.5, 0.95))


def test_raw_ssd_ignores_the_background_class_and_low_scores() -> None:
    dec = RawSsdDecoder(min_score=0.5)
    n = 1917
    enc = np.zeros((1, n, 4), np.float32)
    logits = np.full((1, n, 3), -9.0, np.float32)
    logits[0, :, 0] = 9.0  # background everywhere: ignored, not a detection
    logits[0, 5, 2] = logit(0.45)  # below min_score
    assert dec.decode({"b": enc, "s": logits}, ["b", "s"], LABELS) == []
    logits[0, 5, 2] = logit(0.55)
    (f,) = dec.decode({"b": enc, "s": logits}, ["b", "s"], LABELS)
    assert f.label == "car" and f.class_id == 2


def test_raw_ssd_refuses_a_model_whose_box_count_differs_from_the_anchors() -> None:
    dec = RawSsdDecoder()
    with pytest.raises(ValueError, match="1000 boxes, the anchors 1917"):
        dec.decode({"b": np.zeros((1, 1000, 4)), "s": np.zeros((1, 1000, 3))}, ["b", "s"], LABELS)


def test_nms_keeps_the_best_of_overlapping_boxes_per_class_only() -> None:
    corners = [[0, 0, 1, 1], [0.05, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
    scores = [0.6, 0.9, 0.5, 0.4]
    classes = [1, 1, 2, 1]
    assert nms(corners, scores, classes, 0.5) == [1, 2, 3]
    # Below the IoU threshold both survive: 0.5 overlap of [0,1] and [0.5,1.5] is 1/3.
    assert nms([[0, 0, 1, 1], [0.5, 0, 1.5, 1]], [0.9, 0.8], [1, 1], 0.5) == [0, 1]
    assert iou((0, 0, 1, 1), (0.5, 0, 1, 1)) == pytest.approx(1 / 3)


def test_postprocessed_ssd_reorders_corners_honours_count_and_applies_nms() -> None:
    dec = PostprocessedSsdDecoder(min_score=0.5, label_offset=1)
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.11, 0.2, 0.5, 0.6], [0, 0, 1, 1], [0, 0, 1, 1]]])
    classes = np.array([[0.0, 0.0, 1.0, 0.0]])
    scores = np.array([[0.9, 0.8, 0.7, 0.99]])
    count = np.array([3.0])
    out = dec.decode({"a": boxes, "b": classes, "c": scores, "d": count}, list("abcd"), LABELS)
    assert [(f.label, round(f.score, 2)) for f in out] == [("person", 0.9), ("car", 0.7)]
    assert out[0].box == pytest.approx((0.2, 0.1, 0.4, 0.4))


def test_yolov8_layout_in_pixels_with_nms() -> None:
    dec = YoloDecoder(layout="yolov8", coords="pixels", min_score=0.5)
    # (4 + C, N) with C = 2 classes: two overlapping class-0 boxes and a class-1 box.
    raw = np.array(
        [
            [
                [320, 322, 100],
                [320, 320, 100],
                [64, 64, 20],
                [128, 128, 20],
                [0.9, 0.7, 0.1],
                [0.1, 0.2, 0.8],
            ]
        ],
        np.float32,
    )
    out = dec.decode({"o": raw}, ["o"], ["person", "helmet"], input_size=(640, 640))
    assert [(f.label, round(f.score, 2)) for f in out] == [("person", 0.9), ("helmet", 0.8)]
    assert out[0].box == pytest.approx((0.45, 0.4, 0.1, 0.2))


def test_yolov5_layout_multiplies_objectness_and_normalised_coords() -> None:
    dec = YoloDecoder(layout="yolov5", coords="normalized", min_score=0.5)
    raw = np.array(
        [[[0.5, 0.5, 0.2, 0.2, 0.9, 0.9, 0.1], [0.5, 0.5, 0.2, 0.2, 0.4, 0.9, 0.1]]], np.float32
    )
    out = dec.decode({"o": raw}, ["o"], ["no_helmet", "helmet"])
    assert len(out) == 1 and out[0].score == pytest.approx(0.81)
    assert out[0].box == pytest.approx((0.4, 0.4, 0.2, 0.2))
