"""The ``camera`` driver's config: the source, the worker's limits, and what to look for.

Zones are polygons in image coordinates given as fractions of the width and height (0..1), so
they survive a change of stream resolution. Each detector reports on its own channel,
``<camera>.intrusion``, ``<camera>.helmet``, ``<camera>.smoke_fire`` (the number of current
violations, 0 when clear), and ``<camera>.load`` (analysis time / frame budget; > 1 means
behind); alarms on them are ordinary channel rules, so levels, delays, latching and outputs are
configured as for any channel.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from box.core.model import FieldProblem, Identifier, StrictModel
from drivers.base import DriverConfig
from vision.schedule import Schedule
from vision.settings import (
    PERSON_MODEL,
    HelmetBaselineConfig,
    MotionConfig,
    SmokeFireBaselineConfig,
    name_in_chinese,
)

DETECTORS = ("intrusion", "helmet", "smoke_fire")
Point = tuple[float, float]


class LabelFilter(StrictModel):
    min_score: float = Field(default=0.5, ge=0, le=1)
    min_area: float = Field(default=0.0, ge=0, le=1, description="box area, fraction of frame")


class PersistenceConfig(StrictModel):
    k: int = Field(default=3, ge=1, le=100, description="frames with the violation ...")
    n: int = Field(default=5, ge=1, le=100, description="... among the last n analysed")
    clear_after: int = Field(default=10, ge=1, le=10000, description="frames without, to clear")

    @model_validator(mode="after")
    def _k_of_n(self) -> PersistenceConfig:
        if self.k > self.n:
            raise FieldProblem(("k",), f"k = {self.k} must be <= n = {self.n}")
        return self


class DetectorBase(StrictModel):
    enabled: bool = False
    zones: list[Identifier] = Field(default_factory=list, description="empty: the whole frame")
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    schedule: Schedule | None = Field(default=None, description="armed only then (local time)")


class IntrusionConfig(DetectorBase):
    labels: dict[str, LabelFilter] = Field(
        default_factory=lambda: {"person": LabelFilter()}, description="what counts, filtered"
    )


class HelmetConfig(DetectorBase):
    model: str = Field(
        default="baseline", description='"baseline" or a model manifest with helmet/no_helmet'
    )
    baseline: HelmetBaselineConfig = Field(default_factory=HelmetBaselineConfig)
    person: LabelFilter = Field(default_factory=LabelFilter)


class SmokeFireConfig(DetectorBase):
    model: str = Field(default="baseline", description='"baseline" or a model with fire/smoke')
    baseline: SmokeFireBaselineConfig = Field(default_factory=SmokeFireBaselineConfig)
    min_score: float = Field(default=0.5, ge=0, le=1)


class VisionOptions(StrictModel):
    """What the worker needs (handed over as JSON)."""

    camera: Identifier
    model: str = Field(default=PERSON_MODEL, description="person model manifest (name or path)")
    backend: str = Field(default="tflite", description="detector backend (plug-ins add more)")
    threads: int = Field(default=1, ge=1, le=8, description="interpreter threads")
    fps_budget: float = Field(default=5.0, gt=0, le=60, description="frames analysed per second")
    report_every_s: float = Field(default=1.0, ge=0.1, le=60)
    zones: dict[Identifier, list[Point]] = Field(default_factory=dict)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    intrusion: IntrusionConfig = Field(default_factory=lambda: IntrusionConfig(enabled=True))
    helmet: HelmetConfig = Field(default_factory=HelmetConfig)
    smoke_fire: SmokeFireConfig = Field(default_factory=SmokeFireConfig)
    snapshot_width: int = Field(default=640, ge=64, le=4096)
    snapshot_quality: int = Field(default=70, ge=10, le=100)

    @model_validator(mode="after")
    def _zones(self) -> VisionOptions:
        for name, poly in self.zones.items():
            if len(poly) < 3:
                raise FieldProblem(("zones", name), f"zone {name!r} needs at least 3 points")
            for x, y in poly:
                if not (0 <= x <= 1 and 0 <= y <= 1):
                    raise FieldProblem(
                        ("zones", name), f"point {[x, y]} of zone {name!r} is outside 0..1"
                    )
        for det in DETECTORS:
            for z in getattr(self, det).zones:
                if z not in self.zones:
                    raise FieldProblem((det, "zones"), f"zone {z!r} is not in [zones]")
        return self

    def enabled(self) -> list[str]:
        return [d for d in DETECTORS if getattr(self, d).enabled]


class CameraDriverConfig(DriverConfig):
    type: Literal["camera"]
    url: str = Field(min_length=1, description="rtsp://, http(s):// MJPEG, /dev/videoN, or a file")
    width: int = Field(default=640, ge=64, le=4096, description="frames are resized to this")
    height: int = Field(default=360, ge=64, le=4096)
    open_timeout_s: float = Field(default=5.0, gt=0, le=120)
    no_frames_fault_s: float = Field(default=10.0, ge=1, le=3600, description="then a fault")
    backoff_start_s: float = Field(default=0.5, gt=0, le=600)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    heartbeat_timeout_s: float = Field(default=10.0, ge=0.5, le=600, description="worker hang")
    start_timeout_s: float = Field(default=60.0, ge=1, le=600, description="model load time")
    memory_limit_mb: int | None = Field(default=None, ge=128)
    max_rss_mb: int | None = Field(default=600, ge=64)
    _vision: VisionOptions | None = PrivateAttr(default=None)  # built from the fields below
    model: str = PERSON_MODEL
    backend: str = "tflite"
    threads: int = Field(default=1, ge=1, le=8)
    fps_budget: float = Field(default=5.0, gt=0, le=60)
    report_every_s: float = Field(default=1.0, ge=0.1, le=60)
    zones: dict[Identifier, list[Point]] = Field(default_factory=dict)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    intrusion: IntrusionConfig = Field(default_factory=lambda: IntrusionConfig(enabled=True))
    helmet: HelmetConfig = Field(default_factory=HelmetConfig)
    smoke_fire: SmokeFireConfig = Field(default_factory=SmokeFireConfig)
    snapshot_width: int = Field(default=640, ge=64, le=4096)
    snapshot_quality: int = Field(default=70, ge=10, le=100)

    @model_validator(mode="after")
    def _models_exist(self) -> CameraDriverConfig:
        """A missing or broken model manifest is a config error, not a worker crash loop."""
        from vision.model import ModelError, load_labels, load_spec

        refs: list[tuple[tuple[str, ...], str]] = [(("model",), self.model)]
        refs += [((d, "model"), getattr(self, d).model) for d in ("helmet", "smoke_fire")]
        for path, ref in refs:
            if ref == "baseline" and path != ("model",):
                continue
            try:
                spec, folder = load_spec(ref)
                load_labels(spec, folder)
                if not (folder / spec.file).is_file():
                    raise ModelError(f"model {spec.name}: {folder / spec.file} does not exist")
            except ModelError as exc:
                raise FieldProblem(path, str(exc)) from None
        return self

    @model_validator(mode="after")
    def _build(self) -> CameraDriverConfig:
        fields = {k: getattr(self, k) for k in VisionOptions.model_fields if k != "camera"}
        self._vision = VisionOptions(camera=self.name, **fields)
        return self

    def options(self) -> VisionOptions:
        assert self._vision is not None  # noqa: S101 - set by the validator
        return self._vision

    def channel_ids(self) -> list[str]:
        return [f"{self.name}.{d}" for d in self.options().enabled()] + [f"{self.name}.load"]


name_in_chinese(
    LabelFilter,
    PersistenceConfig,
    DetectorBase,
    IntrusionConfig,
    HelmetConfig,
    SmokeFireConfig,
    VisionOptions,
    CameraDriverConfig,
)
