"""Trend points for charts, from the per-minute rollups (never a scan of raw readings)."""

from __future__ import annotations

import sqlite3

RANGES = {"hour": (60, 1), "day": (1440, 10), "week": (10080, 60)}  # minutes, bucket minutes


def trend(
    conn: sqlite3.Connection, channel: str, range_name: str, now_ms: int
) -> list[tuple[int, float, float, float]]:
    """(bucket start ms, min, max, mean) for the last hour, day or week, oldest first."""
    span, bucket = RANGES[range_name]
    since = now_ms // 60_000 - span
    rows = conn.execute(
        "SELECT r.minute / ? AS b, min(r.min), max(r.max), sum(r.sum) / sum(r.count) "
        "FROM rollups r JOIN channels c ON c.id = r.channel_id "
        "WHERE c.name = ? AND r.minute >= ? GROUP BY b ORDER BY b",
        (bucket, channel, since),
    ).fetchall()
    return [(b * bucket * 60_000, lo, hi, mean) for b, lo, hi, mean in rows]


def svg(
    points: list[tuple[int, float, float, float]],
    thresholds: dict[str, float],
    width: int = 800,
    height: int = 240,
) -> str:
    """A min/max band, the mean line and threshold lines, as an SVG string."""
    if not points:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<text x="10" y="20">no data yet</text></svg>'
        )
    t0, t1 = points[0][0], points[-1][0] or 1
    values = [v for p in points for v in p[1:]] + list(thresholds.values())
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1
    pad = 30

    def x(t: int) -> float:
        return pad + (t - t0) / max(1, t1 - t0) * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)

    upper = " ".join(f"{x(t):.1f},{y(mx):.1f}" for t, _, mx, _ in points)
    lower = " ".join(f"{x(t):.1f},{y(mn):.1f}" for t, mn, _, _ in reversed(points))
    mean = " ".join(f"{x(t):.1f},{y(m):.1f}" for t, _, _, m in points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'class="trend" role="img">',
        f'<polygon points="{upper} {lower}" fill="#90caf9" opacity="0.5"/>',
        f'<polyline points="{mean}" fill="none" stroke="#0d47a1" stroke-width="1.5"/>',
    ]
    for name, at in thresholds.items():
        parts.append(
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(at):.1f}" y2="{y(at):.1f}" '
            f'stroke="#d32f2f" stroke-dasharray="4 3"/><text x="{width - pad + 2}" '
            f'y="{y(at) + 4:.1f}" font-size="11">{name}</text>'
        )
    parts.append(
        f'<text x="2" y="{pad - 8}" font-size="11">{hi:.3g}</text>'
        f'<text x="2" y="{height - 8}" font-size="11">{lo:.3g}</text></svg>'
    )
    return "".join(parts)
