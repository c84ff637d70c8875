"""Zone tests for a batch of positions at once: an STRtree over each zone's reach (the zone
grown by the fence margin, or by its approach distance), then exact signed distances for the
few candidates only, vectorised in shapely (GEOS, prepared geometries).

The signed distance is positive inside a zone (the distance to its edge) and negative outside
(the distance to it), which is what the fences' hysteresis and the approach warning compare."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from box.people.config import Zone


class ZoneIndex:
    def __init__(self, zones: Sequence[Zone], margin_m: float) -> None:
        self.zones = list(zones)
        self.polygons = np.array([Polygon(z.polygon) for z in self.zones], dtype=object)
        self.reach = [max(margin_m, z.approach_m + margin_m) + 1e-6 for z in self.zones]
        reach = np.array(
            [shapely.buffer(p, r) for p, r in zip(self.polygons, self.reach, strict=True)],
            dtype=object,
        )
        self.boundaries = np.array([p.exterior for p in self.polygons], dtype=object)
        shapely.prepare(self.polygons)
        shapely.prepare(self.boundaries)
        self.tree = shapely.STRtree(reach) if len(reach) else None

    def signed(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point index, zone index, signed distance) for every point within a zone's reach,
        ordered by point."""
        empty = np.empty(0, dtype=np.intp)
        if self.tree is None or not len(xs):
            return empty, empty, np.empty(0)
        points = shapely.points(xs, ys)
        pi, zi = self.tree.query(points)
        if not len(pi):
            return pi, zi, np.empty(0)
        inside = shapely.contains_xy(self.polygons[zi], xs[pi], ys[pi])
        d = shapely.distance(self.boundaries[zi], points[pi])
        return pi, zi, np.where(inside, d, -d)

    def containing(self, x: float, y: float) -> list[int]:
        """Zones whose polygon holds the point (no hysteresis: for reports and queries)."""
        if self.tree is None:
            return []
        p = Point(x, y)
        return [int(i) for i in self.tree.query(p) if self.polygons[i].covers(p)]

    def distance(self, zone: int, x: float, y: float) -> float:
        """Signed distance of one point to one zone."""
        p = Point(x, y)
        d = float(self.boundaries[zone].distance(p))
        return d if self.polygons[zone].covers(p) else -d
