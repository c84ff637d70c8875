"""Zones: polygons in image coordinates (fractions of width and height, so a zone survives a
change of stream resolution). A person is in a zone when the bottom centre of its box (where
its feet are) is inside the polygon: a head reaching over a fence line does not count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vision.boxes import Box

Point = tuple[float, float]


def inside(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point on an edge may fall either way."""
    x, y = point
    result = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            result = not result
        j = i
    return result


def foot_point(box: Box) -> Point:
    x, y, w, h = box
    return (x + w / 2, y + h)


def zone_of(box: Box, zones: Mapping[str, Sequence[Point]]) -> str | None:
    """The first zone containing the box's foot point; "" if no zones are configured (the whole
    frame is the zone), None if zones exist and the box is in none."""
    if not zones:
        return ""
    p = foot_point(box)
    # A box touching the bottom edge has its feet cut off: use a point just above the edge.
    p = (p[0], min(p[1], 0.999))
    for name, poly in zones.items():
        if inside(p, poly):
            return name
    return None
