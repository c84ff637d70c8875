"""From a positioning system's frame to site coordinates (metres): scale, rotate, offset.

Several systems on one site each have their own origin and axes; the site plan has one. The
transform is ``site = R(rotation) * (scale * p) + offset`` in the horizontal plane, and
``z * scale + offset_z`` vertically.
"""

from __future__ import annotations

import math

from pydantic import ConfigDict, Field

from box.core.model import StrictModel
from drivers.uwb.zh import zh_names


class Transform(StrictModel):
    """Where this system's origin and axes lie on the site plan."""

    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    offset: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0), description="site coordinates (m) of the system's origin"
    )
    rotation_deg: float = Field(
        default=0.0, ge=-360, le=360, description="counter-clockwise angle of the system's x axis"
    )
    scale: float = Field(default=1.0, gt=0, le=1000, description="site metres per system unit")

    def matrix(self) -> tuple[float, float, float, float, float, float, float, float]:
        a = math.radians(self.rotation_deg)
        c, s = math.cos(a) * self.scale, math.sin(a) * self.scale
        ox, oy, oz = self.offset
        return c, -s, s, c, ox, oy, self.scale, oz

    def apply(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        a, b, c, d, ox, oy, sz, oz = self.matrix()
        return a * x + b * y + ox, c * x + d * y + oy, z * sz + oz

    def inverse(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """Site to system coordinates (the simulator places tags on the site plan)."""
        a, b, c, d, ox, oy, sz, oz = self.matrix()
        det = a * d - b * c
        dx, dy = x - ox, y - oy
        return (d * dx - b * dy) / det, (-c * dx + a * dy) / det, (z - oz) / sz
