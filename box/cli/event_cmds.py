"""``events list``: the stored event log (alarms, faults, config changes, logins) with filters."""

from __future__ import annotations

import json

import click

from box.cli.common import Context, json_option, pass_box, print_json
from box.cli.store_cmds import TimeParam, open_store_reader
from box.store.event_query import EventFilter, query_events
from box.timeparse import TIME_FORMS, iso_utc


@click.group()
def events() -> None:
    """Read the stored event log (the hash-chained audit trail)."""


@events.command(name="list")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only this kind (repeatable), e.g. alarm_raised, config_applied, gap.",
)
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option(
    "--level",
    "levels",
    type=click.IntRange(0, 4),
    multiple=True,
    help="Only this level (repeatable; 1 is the most urgent, 0 information).",
)
@click.option("--since", type=TimeParam(), help=f"From this time: {TIME_FORMS}.")
@click.option("--until", type=TimeParam(), help="Up to (not including) this time.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=100,
    show_default=True,
    help="At most this many, the newest ones (printed oldest first).",
)
@json_option
@pass_box
def list_events(
    box: Context,
    kinds: tuple[str, ...],
    sources: tuple[str, ...],
    levels: tuple[int, ...],
    since: int | None,
    until: int | None,
    limit: int,
    as_json: bool,
) -> None:
    """List stored events, oldest first, read-only (works while the box runs).

    \b
    Examples:
      safetybox events list --since "2h ago"
      safetybox events list --kind alarm --source tank1.lel --level 1 --level 2
      safetybox events list --since 2026-11-23T08:00 --until 2026-11-23T09:00 --json
    """
    f = EventFilter(kinds, sources, levels, since, until, limit)
    conn = open_store_reader(box)
    try:
        found = query_events(conn, f)
    finally:
        conn.close()
    if as_json:
        print_json([{**e, "ts": iso_utc(e["ts_ms"])} for e in found])
        return
    if not found:
        click.echo("no events match", err=True)
    for e in found:
        details = json.dumps(e["details"], ensure_ascii=False, separators=(", ", "="))
        click.echo(
            f"{e['seq']:>7} {iso_utc(e['ts_ms'])} L{e['level']} {e['kind']:<18} "
            f"{e['source']:<20} {details}"
        )


COMMANDS = [events]
