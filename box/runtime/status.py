"""What the running box reports about itself: health (for the watchdog and /api/health), the
one-line status (systemd STATUS=, the log) and the full snapshot (/api/status, the page)."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from box import __version__
from box.alarms.annunciation import Annunciation
from box.config.changes import digest
from box.core.record_types import record_data
from box.core.records import now_ms, shown_quality

if TYPE_CHECKING:
    from box.alarms.engine import AlarmEngine
    from box.runtime.daemon import Daemon

HEARTBEAT_LIMIT_S = 10.0  # a worker silent this long is stuck: stop feeding systemd's watchdog


def health_problems(d: Daemon) -> list[str]:
    now = time.monotonic()
    problems = []
    if not d.writer.is_alive() or now - d.writer.heartbeat > HEARTBEAT_LIMIT_S:
        problems.append("store writer stuck or dead")
    elif commit_problem := d.writer.commit_problem():
        problems.append(commit_problem)
    if not d.pipeline.is_alive() or now - d.pipeline.heartbeat > HEARTBEAT_LIMIT_S:
        problems.append("pipeline stuck or dead")
    problems += [f"driver {s.name} supervisor dead" for s in d.supervisors if not s.is_alive()]
    if d.sync is not None and not d.sync.is_alive():
        problems.append("sync worker dead")
    if d.web is not None and not d.web.is_alive():
        problems.append("web server thread dead")
    return problems


def status_line(d: Daemon) -> str:
    st = d.writer.stats
    live = sum(1 for s in d.supervisors if s.state == "running")
    return (
        f"{len(d.config.channels)} channels, {live}/{len(d.supervisors)} drivers "
        f"running, {st.stored_readings} readings stored ({st.committed_readings} this run)"
    )


def alarm_summary(d: Daemon) -> dict[str, Any]:
    e = d.engine
    return {
        "alarms": e.views,
        "first_out": e.first_out_id,
        "silenced_until": e.silenced_until,
        "profile": e.profile,
        "annunciation": asdict(e.annunciation or Annunciation()),
        "outputs": {**d.outputs.states(), **d.plugin_outputs.states()},
    }


def thresholds(engine: AlarmEngine, channel: str) -> dict[str, float]:
    rules = engine.rules.get(channel)
    th = rules.thresholds if rules else None
    return dict(th.at) if th else {}


def channels(d: Daemon) -> list[dict[str, Any]]:
    now = now_ms()
    live = d.pipeline.live
    views = d.engine.views
    out = []
    for ch in d.config.channels:
        lv = live.get(ch.id)
        active = [v["name"] for v in views if v["source"] == ch.id and v["state"] != "normal"]
        out.append(
            {
                "id": ch.id,
                "name": ch.name,
                "kind": ch.kind,
                "unit": ch.unit,
                "decimals": ch.decimals,
                "zone": ch.zone,
                "value": lv.value if lv else None,
                "quality": shown_quality(lv, now, ch.alarms.stale_after_s),
                "ts_ms": lv.ts_ms if lv else None,
                "age_s": round((now - lv.ts_ms) / 1000, 3) if lv else None,
                "alarms_active": active,
                "thresholds": thresholds(d.engine, ch.id),
            }
        )
    return out


def latest_records(d: Daemon) -> dict[str, dict[str, Any]]:
    """The last record of each type and key (a tag's position, a camera's detection)."""
    out: dict[str, dict[str, Any]] = {}
    for (kind, key), record in list(d.pipeline.latest.items()):
        data = record_data(record)
        for name in getattr(record, "STATUS_OMIT", ()):  # bulky fields (a snapshot's JPEG)
            data.pop(name, None)
        out.setdefault(kind, {})[key] = data
    return out


def snapshot(d: Daemon) -> dict[str, Any]:
    ws = d.writer.stats
    db = d.home.database_file
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    problems = health_problems(d)
    return {
        "box_id": d.box_id,
        "name": d.config.box.name,
        "site": d.config.box.site,
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.monotonic() - d.started_monotonic, 1),
        "started_ms": d.started_ms,
        "healthy": not problems,
        "problems": problems,
        "channels": channels(d),
        "drivers": [
            {
                "name": s.name,
                "type": s.driver.type_key,
                "state": s.state,
                "restarts": s.restarts,
                "last_error": s.last_error,
            }
            for s in d.supervisors
        ],
        "failed_driver_imports": d.registry.failed,
        "failed_rule_kinds": dict(d.rule_kinds.failed),
        "failed_output_kinds": dict(d.output_kinds.failed),
        "queues": {"pipeline": d.pipeline.queue_depth, "store": d.writer.queue_depth},
        "store": {
            "path": str(db),
            "size_bytes": size,
            "committed_readings": ws.committed_readings,
            "stored_readings": ws.stored_readings,
            "committed_events": ws.committed_events,
            "last_event_seq": d.writer.last_event_seq,
            "dropped_readings": ws.uncommitted_readings + d.pipeline.dropped_readings,
            "lost_events": ws.lost_events,
            "failed_commits": ws.failed_commits,
            "commit_error": ws.commit_error,
            "last_commit_ms": round(ws.last_commit_ms, 2),
        },
        "config": {"sha256": digest(d.config_text), "loaded_ms": d.config_loaded_ms},
        **alarm_summary(d),
        "records": latest_records(d),
        "failed_record_types": d.record_types.failed,
        "sync": d.sync.status() if d.sync is not None else {"enabled": False},
        "web_error": d.web_error,
    }
