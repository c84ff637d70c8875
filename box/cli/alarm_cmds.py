"""``alarms ...``: what a technician does at the box: list, acknowledge, shelve, reset, test."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import click

from box.cli.common import Context, json_option, pass_box, print_json
from box.client import BoxClient
from box.core.errors import SafetyBoxError
from box.numbers import DEFAULT_DECIMALS, shown
from box.timeparse import iso_utc, parse_duration_s


class Duration(click.ParamType):
    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration_s(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _who() -> str:
    return f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def _post(box: Context, path: str, data: dict[str, Any]) -> dict[str, Any]:
    code, result = BoxClient(box.home).post(path, {"who": _who(), **data})
    if code != 200:
        raise SafetyBoxError(result.get("error", f"HTTP {code}"))
    return result


def _act(
    box: Context,
    path: str,
    data: dict[str, Any],
    as_json: bool,
    describe: Callable[[dict[str, Any]], str] = lambda a: f"{a['id']}: {a['state']}",
) -> None:
    """Send one alarm command; print the box's answer as JSON or as one line."""
    result = _post(box, path, data)
    if as_json:
        print_json(result)
    else:
        click.echo(describe(result))


@click.group()
def alarms() -> None:
    """See and handle alarms on the running box."""


@alarms.command(name="list")
@json_option
@pass_box
def list_alarms(box: Context, as_json: bool) -> None:
    """Alarms that are not normal (active, latched, shelved or pending), first-out marked.

    \b
    Example:
      safetybox alarms list
    """
    s = BoxClient(box.home).get("/api/alarms")
    if as_json:
        print_json(s)
        return
    if not s["alarms"]:
        click.echo("no alarms")
    for a in s["alarms"]:
        mark = "*" if a["id"] == s["first_out"] else " "
        shelved = (
            f"  SHELVED until {iso_utc(int(a['shelved']['until'] * 1000))}: "
            f"{a['shelved']['reason']}"
            if a["shelved"]
            else ""
        )
        value = ""
        if a["value"] is not None:
            value = f" value {shown(a['value'], a.get('decimals', DEFAULT_DECIMALS))}"
            value += f" {a['unit']}" if a.get("unit") else ""
        click.echo(
            f"{mark} {a['id']:<28} L{a['level']} {a['colour']:<7} {a['state']:<14}{value}{shelved}"
        )
    if s["silenced_until"]:
        click.echo(f"buzzer silenced until {iso_utc(int(s['silenced_until'] * 1000))}")
    if s["alarms"] and s["first_out"]:
        click.echo("* first out")


@alarms.command()
@click.argument("alarm_id")
@click.option("--note", default="", help="What you found or did.")
@json_option
@pass_box
def ack(box: Context, alarm_id: str, note: str, as_json: bool) -> None:
    """Acknowledge an alarm.

    \b
    Example:
      safetybox alarms ack tank1.lel:A1 --note "checked, valve closed"
    """
    _act(box, f"/api/alarms/{quote(alarm_id, safe=':')}/ack", {"note": note}, as_json)


@alarms.command()
@click.argument("alarm_id")
@json_option
@pass_box
def reset(box: Context, alarm_id: str, as_json: bool) -> None:
    """Reset a latched alarm whose condition has gone.

    \b
    Example:
      safetybox alarms reset tank1.lel:A2
    """
    _act(box, f"/api/alarms/{quote(alarm_id, safe=':')}/reset", {}, as_json)


@alarms.command()
@click.argument("alarm_id")
@click.option("--for", "duration", type=Duration(), required=True, help="e.g. 30m, 2h.")
@click.option("--reason", required=True, help="Why (shown everywhere while shelved).")
@json_option
@pass_box
def shelve(box: Context, alarm_id: str, duration: float, reason: str, as_json: bool) -> None:
    """Shelve an alarm for maintenance; it always expires.

    \b
    Example:
      safetybox alarms shelve tank1.lel:A1 --for 30m --reason "sensor calibration"
    """
    _act(
        box,
        f"/api/alarms/{quote(alarm_id, safe=':')}/shelve",
        {"duration_s": duration, "reason": reason},
        as_json,
        lambda a: f"{a['id']}: shelved until {iso_utc(int(a['shelved']['until'] * 1000))}",
    )


@alarms.command()
@click.argument("alarm_id")
@json_option
@pass_box
def unshelve(box: Context, alarm_id: str, as_json: bool) -> None:
    """End a shelve early; the alarm is announced again if its condition is present.

    \b
    Example:
      safetybox alarms unshelve tank1.lel:A1
    """
    _act(box, f"/api/alarms/{quote(alarm_id, safe=':')}/unshelve", {}, as_json)


@alarms.command()
@click.option("--for", "duration", type=Duration(), default=None, help="Default: alarms.silence_s.")
@json_option
@pass_box
def silence(box: Context, duration: float | None, as_json: bool) -> None:
    """Mute the buzzer; it sounds again after the time, or at once on a new alarm."""
    _act(
        box,
        "/api/alarms/silence",
        {"seconds": duration or 0},
        as_json,
        lambda r: f"silenced until {iso_utc(int(r['silenced_until'] * 1000))}",
    )


@alarms.command(name="test")
@click.option("--seconds", type=click.FloatRange(0.5, 60), default=5.0, show_default=True)
@json_option
@pass_box
def lamp_test(box: Context, seconds: float, as_json: bool) -> None:
    """Lamp and horn test: every lamp and the buzzer on (relays untouched).

    \b
    Example:
      safetybox alarms test --seconds 5
    """
    _act(
        box,
        "/api/alarms/test",
        {"seconds": seconds},
        as_json,
        lambda r: f"lamp and horn test for {seconds:g} s",
    )


COMMANDS = [alarms]
