"""``cameras list|snapshot|test``: the configured cameras, a frame or a stored snapshot, and a
commissioning run of the analysis on the live stream."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from box.cli.common import (
    Context,
    force_option,
    json_option,
    pass_box,
    print_json,
    refuse_existing,
    report,
)
from box.config.loader import load_config


def _cameras(box: Context) -> list[Any]:
    config = load_config(box.home.config_file)
    return [d for d in config.drivers if getattr(d, "type", "") == "camera"]


def _camera(box: Context, name: str) -> Any:
    cams = _cameras(box)
    for c in cams:
        if c.name == name:
            return c
    have = ", ".join(c.name for c in cams) or "none configured"
    raise click.ClickException(f"no camera {name!r} in {box.home.config_file} (cameras: {have})")


@click.group()
def cameras() -> None:
    """Cameras and vision: list them, grab a frame, test the analysis."""


@cameras.command(name="list")
@json_option
@pass_box
def list_cameras(box: Context, as_json: bool) -> None:
    """The configured cameras, their sources and which detectors run.

    \b
    Example:
      safetybox cameras list --json
    """
    from drivers.camera.capture import source_kind

    rows = []
    for c in _cameras(box):
        opts = c.options()
        rows.append(
            {
                "name": c.name,
                "enabled": c.enabled,
                "url": c.url,
                "kind": source_kind(c.url),
                "detectors": opts.enabled(),
                "zones": sorted(opts.zones),
                "fps_budget": c.fps_budget,
                "model": c.model,
                "backend": c.backend,
                "threads": c.threads,
                "channels": c.channel_ids(),
            }
        )
    if as_json:
        print_json({"cameras": rows})
        return
    if not rows:
        click.echo('no cameras configured ([[drivers]] with type = "camera")')
    for r in rows:
        state = "" if r["enabled"] else " (disabled)"
        click.echo(
            f"{r['name']:<12} {r['kind']:<5} {r['url']}{state}\n"
            f"{'':<12} detectors: {', '.join(r['detectors']) or 'none'}; zones: "
            f"{', '.join(r['zones']) or 'whole frame'}; {r['fps_budget']:g} frames/s analysed"
        )


def _grab(url: str, timeout_s: float) -> Any:
    from drivers.camera.capture import Capture

    cap = Capture("cli", url, timeout_s=timeout_s, backoff_start_s=0.2).start()
    try:
        frame = cap.wait(0, timeout_s + 1)
    finally:
        cap.stop()
    if frame is None:
        raise click.ClickException(f"no frame from {url} in {timeout_s:g} s: {cap.last_error}")
    return frame


@cameras.command()
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@click.option("--stored", type=int, help="Write this stored snapshot (id) instead of a live frame.")
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True)
@force_option
@json_option
@pass_box
def snapshot(
    box: Context,
    name: str,
    output: str,
    stored: int | None,
    timeout: float,
    force: bool,
    as_json: bool,
) -> None:
    """Save one live frame of camera NAME as JPEG (or a stored, annotated snapshot).

    \b
    Examples:
      safetybox cameras snapshot gate -o gate.jpg
      safetybox cameras snapshot gate --stored 1234 -o event.jpg
    """
    out = Path(output)
    refuse_existing(out, force)
    if stored is not None:
        from box.cli.store_cmds import open_store_reader
        from vision import snapshots

        conn = open_store_reader(box)
        try:
            data = snapshots.jpeg(conn, stored)
        finally:
            conn.close()
        if data is None:
            raise click.ClickException(f"no stored snapshot with id {stored}")
    else:
        from vision.annotate import jpeg

        data = jpeg(_grab(_camera(box, name).url, timeout).image, 90)
    out.write_bytes(data)
    report(as_json, {"file": str(out), "bytes": len(data)}, f"wrote {out} ({len(data)} bytes)")


@cameras.command()
@click.argument("name")
@click.option("--frames", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True)
@json_option
@pass_box
def test(box: Context, name: str, frames: int, timeout: float, as_json: bool) -> None:
    """Read FRAMES frames of camera NAME and run its analysis here: what it finds, how fast.

    Runs beside a running box (it opens its own connection to the camera); nothing is stored
    and no alarm is raised.

    \b
    Example:
      safetybox cameras test gate --frames 50
    """
    from box.core.records import Detection, Reading
    from drivers.camera.capture import Capture
    from vision.pipeline import CameraPipeline

    cam = _camera(box, name)
    t_load = time.perf_counter()
    pipeline = CameraPipeline(cam.options())
    load_ms = (time.perf_counter() - t_load) * 1000
    cap = Capture("cli", cam.url, timeout_s=timeout, backoff_start_s=0.2).start()
    found: dict[str, int] = {}
    peak: dict[str, float] = {}
    seq, got, busy = 0, 0, 0.0
    t0 = time.perf_counter()
    try:
        while got < frames:
            frame = cap.wait(seq, timeout)
            if frame is None:
                raise click.ClickException(
                    f"no frame from {cam.url} for {timeout:g} s: {cap.last_error}"
                )
            seq, got = frame.seq, got + 1
            t = time.perf_counter()
            for r in pipeline.process(frame.image, frame.ts_ms):
                if isinstance(r, Detection):
                    found[r.label] = found.get(r.label, 0) + 1
                elif isinstance(r, Reading) and r.value is not None:
                    peak[r.channel] = max(peak.get(r.channel, 0.0), r.value)
            busy += time.perf_counter() - t
    finally:
        cap.stop()
    wall = time.perf_counter() - t0
    result = {
        "camera": name,
        "frames": got,
        "source_fps": round(got / wall, 2) if wall else None,
        "analysis_ms_per_frame": round(busy / got * 1000, 1),
        "model_runs": pipeline.model_runs,
        "gated": pipeline.gated,
        "model_load_ms": round(load_ms),
        "backend": getattr(pipeline.detector, "backend", None),
        "detections": found,
        "peak": peak,
    }
    if as_json:
        print_json(result)
        return
    click.echo(
        f"{name}: {got} frames at {result['source_fps']} frames/s; analysis "
        f"{result['analysis_ms_per_frame']} ms/frame ({pipeline.model_runs} model runs, "
        f"{pipeline.gated} skipped by motion gating); model loaded in {result['model_load_ms']} ms"
    )
    for channel, value in sorted(peak.items()):
        click.echo(f"  {channel:<12} peak {value:g}")
    for label, n in sorted(found.items()):
        click.echo(f"  detected {label}: {n} records")


COMMANDS = [cameras]
