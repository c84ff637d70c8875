"""What the UWB drivers share: the site transform, battery scaling, and fix -> Position."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ConfigDict, Field

from box.core.model import Identifier
from box.core.ports import RecordSink
from box.core.records import Position, Quality, now_ms
from drivers.base import Driver, DriverConfig
from drivers.uwb.fix import Fix
from drivers.uwb.transform import Transform
from drivers.uwb.zh import zh_names


class UwbConfig(DriverConfig):
    """Fields every positioning source has: where its frame lies on the site plan."""

    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    transform: Transform = Field(default_factory=Transform)
    system: Identifier | None = Field(
        default=None, description="positioning system name (the Position's source)"
    )
    accuracy_m: float | None = Field(
        default=0.3, gt=0, le=100, description="1-sigma horizontal error of this system"
    )
    min_quality: float = Field(
        default=0, ge=0, le=100, description="fixes with a lower quality factor are marked bad"
    )
    battery_empty_v: float = Field(default=3.3, gt=0, le=10)
    battery_full_v: float = Field(default=4.2, gt=0, le=10)
    tag_prefix: str = Field(default="", max_length=32, description="prepended to tag ids")


class UwbDriver(Driver):
    """Turns fixes into Positions in site coordinates and keeps counters for diagnostics."""

    config: UwbConfig

    def __init__(self, config: DriverConfig, sink: RecordSink) -> None:
        super().__init__(config, sink)
        assert isinstance(config, UwbConfig)  # noqa: S101 - the registry pairs model and class
        self._m = config.transform.matrix()
        self.counters: dict[str, Any] = {"fixes": 0, "refused": 0, "last_error": ""}
        self._last_fix_at = 0.0

    def positions(self, fixes: Sequence[Fix], ts_ms: int | None = None) -> list[Position]:
        cfg = self.config
        a, b, c, d, ox, oy, sz, oz = self._m
        ts = ts_ms if ts_ms is not None else now_ms()
        out = []
        for f in fixes:
            bad = f.quality is not None and f.quality < cfg.min_quality
            battery = f.battery
            if battery is None and f.battery_v is not None:
                span = cfg.battery_full_v - cfg.battery_empty_v
                battery = max(0.0, min(100.0, (f.battery_v - cfg.battery_empty_v) / span * 100))
            out.append(
                Position(
                    cfg.tag_prefix + f.tag,
                    f.ts_ms if f.ts_ms is not None else ts,
                    a * f.x + b * f.y + ox,
                    c * f.x + d * f.y + oy,
                    f.z * sz + oz,
                    cfg.accuracy_m,
                    Quality.BAD if bad else Quality.GOOD,
                    cfg.system or cfg.name,
                    battery,
                    f.sos,
                )
            )
        return out

    def emit(self, fixes: Sequence[Fix]) -> None:
        if fixes:
            self.counters["fixes"] += len(fixes)
            self._last_fix_at = time.monotonic()
            self.sink(self.positions(fixes))

    def refuse(self, why: str) -> None:
        self.counters["refused"] += 1
        self.counters["last_error"] = why

    def diagnostics(self) -> dict[str, Any]:
        ago = time.monotonic() - self._last_fix_at if self._last_fix_at else None
        return {**self.counters, "last_fix_s_ago": None if ago is None else round(ago, 1)}

    def run(self, stop: threading.Event) -> None:  # pragma: no cover - each driver has its own
        raise NotImplementedError
