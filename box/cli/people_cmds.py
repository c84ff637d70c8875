"""``people ...``: who is where, where was one person, zone visits, the muster, exposure.

``where``, ``track``, ``visits`` and ``exposure`` read the store (they work with or without a
running box); ``muster start|end|roll`` asks the running box.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from box.cli.common import Context, pass_box, print_json
from box.cli.store_cmds import TimeParam, open_store_reader
from box.client import BoxClient
from box.config.loader import context_for, parse_config
from box.core.records import now_ms
from box.people import queries
from box.people.config import Positioning

F = TypeVar("F", bound=Callable[..., Any])


def fmt_option(func: F) -> F:
    """``--format json|csv|geojson``, and ``--json`` (the same as ``--format json``)."""
    func = click.option("--json", "as_json", is_flag=True, help="JSON (as --format json).")(func)
    return click.option(
        "--format", "fmt", type=click.Choice(queries.FORMATS), default="json", show_default=True
    )(func)


since_option = click.option("--since", type=TimeParam(), help="From this time (e.g. 2h, ISO).")
until_option = click.option("--until", type=TimeParam(), help="Up to this time.")


@click.group()
def people() -> None:
    """People on the site plan (UWB positioning): where, track, visits, muster, exposure.

    \b
    Examples:
      safetybox people where --format csv
      safetybox people track t17 --since 2h --format geojson
      safetybox people visits --zone reactor --since 1d
      safetybox people muster start --reason drill
      safetybox people exposure --since 8h
    """


@people.command()
@since_option
@fmt_option
@pass_box
def where(box: Context, since: int | None, fmt: str, as_json: bool) -> None:
    """The last stored position of every tag (default: seen in the last 24 h)."""
    fmt = "json" if as_json else fmt
    conn = open_store_reader(box)
    try:
        rows = queries.where(conn, since if since is not None else now_ms() - 86_400_000)
    finally:
        conn.close()
    _out(queries.render(rows, fmt))


@people.command()
@click.argument("tag")
@since_option
@until_option
@fmt_option
@click.option("--line", is_flag=True, help="GeoJSON: one LineString instead of points.")
@pass_box
def track(
    box: Context,
    tag: str,
    since: int | None,
    until: int | None,
    fmt: str,
    as_json: bool,
    line: bool,
) -> None:
    """One tag's stored trajectory (default: the last hour)."""
    fmt = "json" if as_json else fmt
    conn = open_store_reader(box)
    try:
        rows = queries.track(conn, tag, since if since is not None else now_ms() - 3_600_000, until)
    finally:
        conn.close()
    _out(queries.render(rows, fmt, line))


@people.command()
@click.option("--tag", help="Only this tag.")
@click.option("--zone", help="Only this zone.")
@since_option
@until_option
@fmt_option
@pass_box
def visits(
    box: Context,
    tag: str | None,
    zone: str | None,
    since: int | None,
    until: int | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Stays in zones: who, where, entered, left, for how long (default: the last day)."""
    fmt = "json" if as_json else fmt
    conn = open_store_reader(box)
    try:
        rows = queries.visits(conn, tag, zone, since or now_ms() - 86_400_000, until)
    finally:
        conn.close()
    _out(queries.render(rows, fmt))


@people.command()
@click.argument("action", type=click.Choice(["roll", "start", "end", "report"]), default="roll")
@click.option("--reason", default="", help="start: why (drill, gas release ...).")
@click.option("--who", default="cli", show_default=True)
@fmt_option
@pass_box
def muster(box: Context, action: str, reason: str, who: str, fmt: str, as_json: bool) -> None:
    """The live muster roll, start or end a muster (running box), or the last report (store)."""
    fmt = "json" if as_json else fmt
    if action == "report":
        conn = open_store_reader(box)
        try:
            row = conn.execute(
                "SELECT details FROM events WHERE kind = 'muster_report' ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            raise click.ClickException("no muster report is stored yet")
        _show(json.loads(row[0]), fmt)
        return
    client = BoxClient(box.home)
    if action == "roll":
        status, data = client.call("GET", "/api/people/muster")
    else:
        status, data = client.post(f"/api/people/muster/{action}", {"who": who, "reason": reason})
    if status != 200:
        raise click.ClickException(str(data.get("error", data)))
    _show(data, fmt)


def _out(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


def _show(roll: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print_json(roll)
        return
    rows = [
        {"status": status, **r}
        for status in ("accounted", "inside", "missing")
        for r in roll.get(status, [])
    ]
    _out(queries.render(rows, fmt))


@people.command()
@click.option("--tag", help="Only this tag.")
@since_option
@until_option
@fmt_option
@pass_box
def exposure(
    box: Context, tag: str | None, since: int | None, until: int | None, fmt: str, as_json: bool
) -> None:
    """Per-worker gas exposure from the stored track and readings (default: the last 8 h):
    average, TWA (over 8 h), the highest 15-min average (STEL) and the time exposed."""
    fmt = "json" if as_json else fmt
    path = box.home.config_file
    config = parse_config(path.read_text(encoding="utf-8"), str(path), context=context_for(path))
    plans: list[Positioning] = getattr(config, "positioning", None) or []
    if not any(p.exposure for p in plans):
        raise click.ClickException("no [[positioning.exposure]] gases are configured")
    end = until if until is not None else now_ms()
    start = since if since is not None else end - 8 * 3_600_000
    conn = open_store_reader(box)
    try:
        rows = [r for plan in plans for r in queries.exposure(conn, plan, start, end, tag)]
    finally:
        conn.close()
    _out(queries.render(rows, fmt))


@people.command()
@click.argument("port")
@click.option("--baudrate", type=int, default=115200, show_default=True)
@click.option("--mode", type=click.Choice(["tag", "anchor"]), help="Set the node's mode.")
@click.option("--initiator", is_flag=True, help="With --mode anchor: the network's initiator.")
@click.option(
    "--update-rate",
    metavar="ACTIVE_MS,STATIONARY_MS",
    help="Set the update intervals (steps of 100 ms), e.g. 100,1000.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def node(
    port: str,
    baudrate: int,
    mode: str | None,
    initiator: bool,
    update_rate: str | None,
    as_json: bool,
) -> None:
    """Read (and optionally configure) a DWM1001 node on a serial port: firmware version,
    tag/anchor mode, update rate. Each write is read back. Stop the box's driver for that port
    first: a serial port has one reader.

    \b
    Examples:
      safetybox people node /dev/ttyACM0
      safetybox people node /dev/ttyACM0 --mode tag --update-rate 100,1000
    """
    import serial

    from firmware_tools import dwm1001_tool as tool

    try:
        conn = serial.serial_for_url(port, baudrate=baudrate, timeout=0.2)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot open {port}: {exc}") from None
    try:
        tool.to_tlv_mode(conn)
        info = tool.read_info(conn)
        if mode:
            info = tool.set_mode(conn, mode, initiator)
        if update_rate:
            try:
                active, stationary = (int(v) for v in update_rate.split(","))
            except ValueError:
                raise click.BadParameter("give two numbers, e.g. 100,1000") from None
            info = tool.set_update_rate(conn, active, stationary)
    except (tool.ToolError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    if as_json:
        print_json(info.as_dict())
    else:
        click.echo(
            f"DWM1001 firmware {info.firmware}, {info.mode}"
            f"{' (initiator)' if info.initiator else ''}, update every {info.active_ms} ms "
            f"({info.stationary_ms} ms when stationary)"
        )


COMMANDS = [people]
