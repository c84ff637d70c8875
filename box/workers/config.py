"""The ``process`` driver's config: which worker to run, its channels, and its limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from box.core.model import Identifier, StrictModel
from drivers.base import DriverConfig

WORKER_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class FramesConfig(StrictModel):
    """A ring of shared-memory slots for frames the parent hands to the worker."""

    slots: int = Field(default=4, ge=2, le=64, description="frames in flight before overwrite")
    width: int = Field(ge=1, le=8192)
    height: int = Field(ge=1, le=8192)
    depth: int = Field(default=3, ge=1, le=4, description="values per pixel (3 = RGB)")
    dtype: Literal["uint8", "uint16", "float32"] = "uint8"


class ProcessDriverConfig(DriverConfig):
    type: Literal["process"]
    worker: str = Field(pattern=WORKER_PATTERN, description="package.module:function to run")
    options: dict[str, Any] = Field(default_factory=dict, description="handed to the worker")
    channels: dict[str, Identifier] = Field(
        default_factory=dict, description="worker channel name -> box channel id"
    )
    heartbeat_timeout_s: float = Field(
        default=10.0, ge=0.2, le=3600, description="silence after which the worker is killed"
    )
    start_timeout_s: float = Field(
        default=30.0, ge=0.5, le=600, description="time to import the worker (models load slowly)"
    )
    memory_limit_mb: int | None = Field(
        default=None, ge=32, description="RLIMIT_AS of the child (address space)"
    )
    max_rss_mb: int | None = Field(
        default=None, ge=8, description="the parent kills a child whose resident memory exceeds"
    )
    backoff_start_s: float = Field(default=1.0, gt=0, le=3600, description="first restart delay")
    backoff_max_s: float = Field(default=60.0, gt=0, le=86400, description="restart delay cap")
    stop_grace_s: float = Field(
        default=1.0, ge=0, le=2, description="time to exit after a stop request, then SIGTERM"
    )
    frames: FramesConfig | None = None

    @model_validator(mode="after")
    def _backoff_order(self) -> ProcessDriverConfig:
        if self.backoff_max_s < self.backoff_start_s:
            raise ValueError("backoff_max_s must be >= backoff_start_s")
        return self

    def channel_ids(self) -> list[str]:
        return list(self.channels.values())
