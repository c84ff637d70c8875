"""The shipped person model, run for real on photos whose licences allow shipping them."""

from __future__ import annotations

import hashlib

import pytest

from firmware_tools import person_model
from tests.conftest import REPO
from vision.boxes import iou
from vision.model import MODELS_DIR, PERSON_MODEL

cv2 = pytest.importorskip("cv2")
DATA = REPO / "tests" / "data" / "vision"
# Drawn by hand around Eileen Collins in astronaut.png (512 x 512): hair to the bottom edge,
# left arm to right shoulder; the helmet she holds is not part of the box.
ASTRONAUT_PERSON = (20 / 512, 14 / 512, (365 - 20) / 512, (512 - 14) / 512)


def rgb(name: str):  # noqa: ANN201 - a numpy array
    return cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector():  # noqa: ANN201
    from vision.runner import TfliteDetector

    return TfliteDetector(PERSON_MODEL, threads=1)


def test_the_committed_model_is_the_verified_extract() -> None:
    data = (MODELS_DIR / f"{PERSON_MODEL}.tflite").read_bytes()
    assert hashlib.sha256(data).hexdigest() == person_model.MODEL_SHA256
    labels = (MODELS_DIR / f"{PERSON_MODEL}.labels").read_text().splitlines()
    assert len(labels) == 24 and labels[0] == "???" and labels[4] == "Person"


def test_the_extractor_refuses_bytes_that_are_not_the_model() -> None:
    packed = bytearray(b"x" * person_model.MODEL_END)
    with pytest.raises(person_model.ExtractError, match="sha256"):
        person_model.split(bytes(packed))
    with pytest.raises(person_model.ExtractError, match="expected >="):
        person_model.split(b"short")


def test_it_finds_the_person_in_a_real_photo(detector) -> None:  # noqa: ANN001
    people = [f for f in detector.detect(rgb("astronaut.png")) if f.label == "person"]
    assert people, "no person found"
    best = max(people, key=lambda f: f.score)
    assert iou(best.box, ASTRONAUT_PERSON) >= 0.5, best


def test_it_finds_nothing_on_an_empty_frame(detector) -> None:  # noqa: ANN001
    assert detector.detect(rgb("grass.png")) == []
    import numpy as np

    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_an_installed_box_finds_the_models_under_its_prefix(
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    import shutil

    from vision import settings

    assert settings.models_dir() == MODELS_DIR  # a checkout: its own models/
    monkeypatch.setenv("SAFETYBOX_MODELS", str(tmp_path))
    assert settings.models_dir() == tmp_path
    monkeypatch.delenv("SAFETYBOX_MODELS")
    share = tmp_path / "share" / "safetybox" / "models"
    share.mkdir(parents=True)
    shutil.copy(MODELS_DIR / f"{PERSON_MODEL}.toml", share)
    monkeypatch.setattr(settings, "__file__", str(tmp_path / "site-packages/vision/settings.py"))
    monkeypatch.setattr(settings.sys, "prefix", str(tmp_path))
    assert settings.models_dir() == share
