"""The vision settings that the config needs, without numpy or OpenCV: the camera driver's
config is parsed by every CLI command and the daemon, which must not pay for the image stack
unless a camera actually runs."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from box.core.model import StrictModel

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
PERSON_MODEL = "person_ssd_mobilenetv2_oidv4"


class MotionConfig(StrictModel):
    enabled: bool = True
    width: int = Field(default=160, ge=32, le=640, description="width of the compared image")
    threshold: int = Field(default=20, ge=1, le=255, description="grey change counted as motion")
    min_area: float = Field(default=0.002, ge=0, le=1, description="fraction of the frame")
    alpha: float = Field(default=0.05, gt=0, le=1, description="background adaptation rate")
    recheck_s: float = Field(default=10.0, ge=0, description="full detection at least this often")
    crop: bool = Field(default=True, description="detect on the moving region when it is small")
    crop_max_area: float = Field(default=0.3, gt=0, le=1)


class HelmetBaselineConfig(StrictModel):
    head_fraction: float = Field(default=0.18, gt=0, le=0.5, description="top of the person box")
    min_cover: float = Field(default=0.25, gt=0, le=1, description="hat-coloured share needed")


class SmokeFireBaselineConfig(StrictModel):
    smoke: bool = Field(
        default=False, description="also the grey-growing-region smoke check (more false alarms)"
    )
    min_area: float = Field(default=0.002, gt=0, le=1, description="fraction of the frame")
    flicker: float = Field(default=0.1, gt=0, le=1, description="mask change between frames")
    window: int = Field(default=8, ge=3, le=60, description="frames of history")
    smoke_growth: float = Field(default=1.3, ge=1, le=10, description="area ratio over window")
    max_drift: float = Field(
        default=0.01, ge=0, le=1, description="mean centroid shift per frame (of the width)"
    )
