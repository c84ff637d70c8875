"""The ``[store]`` section: retention, commit batching, durability."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from box.core.model import StrictModel


class StoreSection(StrictModel):
    retention_days: float = Field(default=90, gt=0, le=3650, description="readings kept this long")
    event_retention_days: float = Field(default=3650, gt=0, le=36500)
    rollup_retention_days: float = Field(default=400, gt=0, le=3650, description="trend data")
    position_retention_days: float = Field(
        default=90,
        gt=0,
        le=3650,
        description="stored positions (trajectories) kept this long",
        json_schema_extra={"x-zh": "轨迹保留天数"},
    )
    position_min_move_m: float = Field(
        default=0.5,
        ge=0,
        le=100,
        description="a position is stored when the tag moved this far",
        json_schema_extra={"x-zh": "轨迹存储最小位移(米)"},
    )
    position_every_s: float = Field(
        default=10,
        ge=0.1,
        le=3600,
        description="... or this long after the last stored one",
        json_schema_extra={"x-zh": "轨迹存储间隔(秒)"},
    )
    max_size_mb: float = Field(default=2048, ge=1, description="readings evicted beyond this")
    commit_interval_ms: int = Field(default=20, ge=1, le=1000)
    commit_max_rows: int = Field(default=5000, ge=1, le=200_000)
    queue_max_batches: int = Field(default=4096, ge=16, le=1_000_000)
    maintenance_interval_s: float = Field(default=60, ge=1, le=86400)
    synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description="normal: survives a crash, may lose the last commits on power loss; "
        "full: fsync every commit (slower, wears the SD card)",
    )
