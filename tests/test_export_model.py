"""``firmware_tools.export_model --tflite``: a model described, with a manifest that loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_tools import export_model
from vision.model import MODELS_DIR, PERSON_MODEL, load_spec

pytest.importorskip("ai_edge_litert")


def test_a_tflite_model_gets_a_manifest_and_a_card(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("???\nperson\n", encoding="utf-8")
    argv = [
        "--tflite",
        str(MODELS_DIR / f"{PERSON_MODEL}.tflite"),
        "--labels",
        str(labels),
        "--decoder",
        "ssd_raw",
        "--name",
        "site_model",
        "--input-range",
        "-1",
        "1",
        "-o",
        str(tmp_path / "out"),
    ]
    assert export_model.run(argv) == 0
    card = (tmp_path / "out" / "site_model.md").read_text()
    assert "[1, 300, 300, 3] float32" in card and "UNMEASURED" in card
    assert "raw_outputs/box_encodings" in card and "not integer" in card
    spec, folder = load_spec(str(tmp_path / "out" / "site_model.toml"))
    assert spec.decoder.kind == "ssd_raw" and spec.input_range == (-1.0, 1.0)
    assert (folder / spec.file).stat().st_size > 1_000_000
    assert export_model.run(argv) == 1, "never overwrites without --force"
