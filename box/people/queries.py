"""Questions asked of the store about people: where is everyone, where was one person, who
visited a zone, what did a worker breathe. Read-only: they run beside a running box.

Positions are the stored (thinned) rows of type ``position``; zone visits are the
``zone_entered`` / ``zone_left`` events the rules stored (hash-chained). The exposure report
recomputes each worker's time-weighted average from his stored track and the stored readings
of the gas channels linked to the zones he was in: the same rule as the live one (each value
holds until the next, the highest linked channel counts, outside linked zones it is zero).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from box.people.config import Positioning
from box.people.geometry import ZoneIndex

FORMATS = ("json", "csv", "geojson")


def where(conn: sqlite3.Connection, since_ms: int = 0) -> list[dict[str, Any]]:
    """The last stored position of every tag seen since ``since_ms``."""
    rows = conn.execute(
        "SELECT r.key, r.ts, r.data FROM records r JOIN (SELECT key, max(id) AS id FROM records "
        "WHERE type = 'position' AND ts >= ? GROUP BY key) last ON r.id = last.id ORDER BY r.key",
        (since_ms,),
    ).fetchall()
    return [_position(key, ts, data) for key, ts, data in rows]


def track(
    conn: sqlite3.Connection, tag: str, since_ms: int = 0, until_ms: int | None = None
) -> list[dict[str, Any]]:
    until = until_ms if until_ms is not None else 2**62
    rows = conn.execute(
        "SELECT key, ts, data FROM records WHERE type = 'position' AND key = ? AND ts >= ? "
        "AND ts < ? ORDER BY ts, id",
        (tag, since_ms, until),
    ).fetchall()
    return [_position(key, ts, data) for key, ts, data in rows]


def visits(
    conn: sqlite3.Connection,
    tag: str | None = None,
    zone: str | None = None,
    since_ms: int = 0,
    until_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Each stay in a zone: who, which zone, entered, left (None: still there), seconds."""
    until = until_ms if until_ms is not None else 2**62
    rows = conn.execute(
        "SELECT ts, kind, details FROM events WHERE kind IN ('zone_entered', 'zone_left') "
        "AND ts < ? ORDER BY seq",
        (until,),
    ).fetchall()
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for ts, kind, text in rows:
        d = json.loads(text)
        key = (str(d.get("tag", "")), str(d.get("zone", "")))
        if (tag and key[0] != tag) or (zone and key[1] != zone):
            continue
        if kind == "zone_entered":
            open_[key] = {
                "tag": key[0],
                "person": d.get("person", ""),
                "zone": key[1],
                "entered_ms": ts,
                "left_ms": None,
                "seconds": None,
            }
        else:
            v = open_.pop(key, None) or {
                "tag": key[0],
                "person": d.get("person", ""),
                "zone": key[1],
                "entered_ms": None,
            }
            v["left_ms"] = ts
            v["seconds"] = None if v["entered_ms"] is None else (ts - v["entered_ms"]) / 1000
            out.append(v)
    out += open_.values()
    out = [v for v in out if (v["left_ms"] or 2**62) >= since_ms]
    return sorted(out, key=lambda v: (v["entered_ms"] or 0, v["tag"]))


def exposure(
    conn: sqlite3.Connection,
    plan: Positioning,
    since_ms: int,
    until_ms: int,
    tag: str | None = None,
    hold_s: float | None = None,
) -> list[dict[str, Any]]:
    """Per worker and gas over [since, until): the time-weighted average over the period and
    over 8 h (TWA), the highest 15-min average (STEL) and the seconds spent exposed."""
    index = ZoneIndex(plan.zones, plan.margin_m)
    hold_ms = int((hold_s if hold_s is not None else plan.lost_after_s) * 1000)
    names = {p.tag: p.name for p in plan.people}
    tags = (
        [tag]
        if tag
        else [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT key FROM records WHERE type = 'position' AND ts >= ? AND ts < ?",
                (since_ms, until_ms),
            )
        ]
    )
    out = []
    for gas in plan.exposure:
        series = {ch: _readings(conn, ch, since_ms - hold_ms, until_ms) for ch in gas.channels}
        for t in sorted(tags):
            steps = _exposure_steps(
                index,
                plan,
                gas.channels,
                series,
                track(conn, t, since_ms, until_ms),
                hold_ms,
                until_ms,
            )
            if not steps:
                continue
            total = sum((b - a) * v for a, b, v in steps) / 1000
            exposed = sum(b - a for a, b, v in steps if v > 0) / 1000
            out.append(
                {
                    "tag": t,
                    "person": names.get(t, ""),
                    "gas": gas.gas,
                    "period_s": (until_ms - since_ms) / 1000,
                    "average": round(total / max(1e-9, (until_ms - since_ms) / 1000), 4),
                    "twa": round(total / gas.twa_window_s, 4),
                    "stel_max": round(_max_window(steps, gas.stel_window_s * 1000), 4),
                    "exposed_s": round(exposed, 1),
                    "twa_limit": gas.twa,
                    "stel_limit": gas.stel,
                }
            )
    return out


def _readings(
    conn: sqlite3.Connection, channel: str, since_ms: int, until_ms: int
) -> list[tuple[int, float]]:
    rows = conn.execute(
        "SELECT r.ts, r.value FROM readings r JOIN channels c ON c.id = r.channel_id "
        "WHERE c.name = ? AND r.ts >= ? AND r.ts < ? AND r.quality < 2 AND r.value IS NOT NULL "
        "ORDER BY r.ts",
        (channel, since_ms, until_ms),
    ).fetchall()
    return [(int(ts), float(v)) for ts, v in rows]


def _value_at(series: list[tuple[int, float]], ts: int, hold_ms: int) -> float:
    lo, hi = 0, len(series)
    while lo < hi:  # the last reading at or before ts
        mid = (lo + hi) // 2
        if series[mid][0] <= ts:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return 0.0
    t, v = series[lo - 1]
    return v if ts - t <= hold_ms else 0.0


def _exposure_steps(
    index: ZoneIndex,
    plan: Positioning,
    channels: Sequence[str],
    series: dict[str, list[tuple[int, float]]],
    positions: list[dict[str, Any]],
    hold_ms: int,
    until_ms: int,
) -> list[tuple[int, int, float]]:
    """(from, to, concentration) pieces: each position holds until the next (at most
    ``hold_ms``); within a piece the concentration steps with the readings."""
    steps: list[tuple[int, int, float]] = []
    for i, p in enumerate(positions):
        start = p["ts_ms"]
        end = min(
            positions[i + 1]["ts_ms"] if i + 1 < len(positions) else until_ms, start + hold_ms
        )
        zones = [plan.zones[z] for z in index.containing(p["x"], p["y"])]
        linked = [c for z in zones for c in z.channels if c in channels]
        if not linked:
            steps.append((start, end, 0.0))
            continue
        cuts = sorted({start, end, *(t for c in linked for t, _ in series[c] if start < t < end)})
        for a, b in zip(cuts, cuts[1:], strict=False):
            v = max(_value_at(series[c], a, hold_ms) for c in linked)
            steps.append((a, b, v))
    return steps


def _max_window(steps: list[tuple[int, int, float]], window_ms: float) -> float:
    """The highest average over any window of ``window_ms`` (checked at piece edges, where
    the maximum of a piecewise-constant integral's sliding window lies)."""
    if not steps:
        return 0.0
    edges = sorted({a for a, _, _ in steps} | {b for _, b, _ in steps})
    best = 0.0
    for start in edges:
        for s in (start, start - window_ms):
            end = s + window_ms
            total = sum(max(0, min(b, end) - max(a, s)) * v for a, b, v in steps)
            best = max(best, total / window_ms)
    return best


def _position(key: str, ts: int, data: str) -> dict[str, Any]:
    d = json.loads(data)
    return {
        "tag": key,
        "ts_ms": ts,
        "x": d.get("x"),
        "y": d.get("y"),
        "z": d.get("z"),
        "quality": d.get("quality"),
        "battery": d.get("battery"),
        "sos": d.get("sos"),
        "source": d.get("source"),
    }


def render(rows: list[dict[str, Any]], fmt: str, line: bool = False) -> str:
    """Rows as JSON, CSV or GeoJSON (points; with ``line``, one LineString per tag)."""
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r.get(k)) for k in keys})
        return buf.getvalue()
    if fmt == "geojson":
        with_xy = [r for r in rows if r.get("x") is not None and r.get("y") is not None]
        features: list[dict[str, Any]] = []
        if line:
            by_tag: dict[str, list[dict[str, Any]]] = {}
            for r in with_xy:
                by_tag.setdefault(r["tag"], []).append(r)
            for t, pts in by_tag.items():
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "LineString",
                            "coordinates": [[p["x"], p["y"]] for p in pts],
                        },
                        "properties": {
                            "tag": t,
                            "from_ms": pts[0]["ts_ms"],
                            "to_ms": pts[-1]["ts_ms"],
                            "times_ms": [p["ts_ms"] for p in pts],
                        },
                    }
                )
        else:
            for r in with_xy:
                props = {k: v for k, v in r.items() if k not in ("x", "y")}
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [r["x"], r["y"]]},
                        "properties": props,
                    }
                )
        # Site metres, not WGS 84: say so (RFC 7946 readers assume longitude/latitude).
        return json.dumps(
            {
                "type": "FeatureCollection",
                "crs_note": "site coordinates in metres",
                "features": features,
            },
            ensure_ascii=False,
        )
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def _cell(v: Any) -> Any:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
