"""``readings export`` and ``audit verify``: get data out, and prove the records are intact."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from box.cli.common import (
    Context,
    force_option,
    json_option,
    pass_box,
    print_json,
    refuse_existing,
)
from box.cli.progress import count_bar
from box.core.records import now_ms
from box.keys import STORE_KEY, FileKeyProvider
from box.store.audit import audit_events
from box.store.database import connect
from box.store.export import FORMATS, query_readings, write_readings
from box.timeparse import TIME_FORMS, parse_time_ms


def open_store_reader(box: Context):  # noqa: ANN201 - a sqlcipher3 connection
    """A read-only connection: works beside a running box (WAL readers never block it)."""
    key = FileKeyProvider(box.home.keys_dir).get(STORE_KEY)
    return connect(box.home.database_file, key, readonly=True)


class TimeParam(click.ParamType):
    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):  # noqa: ANN201
        if isinstance(value, int):
            return value
        try:
            return parse_time_ms(str(value), now_ms())
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.group()
def readings() -> None:
    """Get readings out of the store."""


@readings.command()
@click.option("--channel", help="Only this channel id.")
@click.option("--since", type=TimeParam(), help=f"From this time: {TIME_FORMS}.")
@click.option("--until", type=TimeParam(), help="Up to (not including) this time (same forms).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default: stdout).")
@force_option
@click.option("--json", "as_json", is_flag=True, help="With -o: print a JSON summary.")
@pass_box
def export(
    box: Context,
    channel: str | None,
    since: int | None,
    until: int | None,
    fmt: str,
    output: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Export readings as CSV or JSON lines, oldest first.

    \b
    Examples:
      safetybox readings export --channel tank1.lel --since "2h ago" --format csv
      safetybox readings export --since 2026-11-01 --until 2026-11-02 --format jsonl -o nov1.jsonl
    """
    if as_json and not output:
        raise click.UsageError(
            "--json summarises an export to a file (-o); for JSON lines on "
            "stdout use --format jsonl"
        )
    if output:
        refuse_existing(Path(output), force)
    conn = open_store_reader(box)
    try:
        rows = query_readings(conn, channel, since, until)
        if output:
            total = _count(conn, channel, since, until) if sys.stderr.isatty() else 0
            # "x": a file that appeared since the check is not overwritten either.
            mode = "w" if force else "x"
            with Path(output).open(mode, encoding="utf-8", newline="") as f:
                if total:  # a progress bar only on a terminal, and only when writing a file
                    with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
                        count = write_readings(rows, f, fmt, bar.update)
                else:
                    count = write_readings(rows, f, fmt)
        else:
            count = write_readings(rows, sys.stdout, fmt)
    finally:
        conn.close()
    if as_json:
        print_json({"file": output, "format": fmt, "readings": count})
    else:
        click.echo(f"exported {count} readings", err=True)


def _count(
    conn: sqlite3.Connection, channel: str | None, since: int | None, until: int | None
) -> int:
    return sum(1 for _ in query_readings(conn, channel, since, until, batch=50_000))


@click.group()
def audit() -> None:
    """Check that stored records were not altered."""


@audit.command()
@json_option
@pass_box
def verify(box: Context, as_json: bool) -> None:
    """Walk the events' hash chain and report the first broken link (exit 1 if any).

    \b
    Example:
      safetybox audit verify
    """
    conn = open_store_reader(box)
    try:
        report = audit_events(conn, FileKeyProvider(box.home.keys_dir).get(STORE_KEY))
    finally:
        conn.close()
    if as_json:
        print_json(report.__dict__)
    elif report.ok:
        click.echo(
            f"hash chain intact: {report.checked} events, seq {report.first_seq} to "
            f"{report.last_seq}"
        )
    else:
        click.echo(
            f"hash chain BROKEN at seq {report.broken_seq}: {report.reason} "
            f"({report.checked} events before it are intact)",
            err=True,
        )
    if not report.ok:
        sys.exit(1)


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    required=True,
    help="New file for the copy (never overwritten).",
)
@json_option
@pass_box
def backup(box: Context, output: str, as_json: bool) -> None:
    """Copy the store while the box runs, still encrypted with the store key.

    Restoring needs that key (keys/store.key): keep the key apart from the copy.

    \b
    Example:
      safetybox backup -o /media/usb/safetybox-$(date +%F).db
    """
    from box.store.backup import backup as copy_store

    key = FileKeyProvider(box.home.keys_dir).get(STORE_KEY)
    target = Path(output)
    with count_bar("backup") as progress:
        size = copy_store(box.home.database_file, key, target, progress)
    result = {"file": str(target), "bytes": size, "encrypted": True}
    if as_json:
        print_json(result)
    else:
        click.echo(f"wrote {target} ({size:,} bytes, encrypted with the store key)")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@pass_box
def restore(box: Context, file: str, as_json: bool) -> None:
    """Replace the store by a backup (from 'safetybox backup'), once it proves sound.

    Refused while the box runs (stop it first). The backup must open with this box's store
    key, pass SQLite's integrity check and have an intact event hash chain; only then is the
    current store renamed aside (box-replaced-TIME.db, never deleted) and the backup put in
    its place. The restore is recorded as a store_restored event.

    \b
    Example:
      sudo systemctl stop safetybox
      sudo -u safetybox safetybox restore /media/usb/safetybox-2026-11-23.db
      sudo systemctl start safetybox
    """
    from box.store.restore import restore as restore_store

    key = FileKeyProvider(box.home.keys_dir).get(STORE_KEY)
    result = restore_store(box.home.database_file, key, Path(file))
    if as_json:
        print_json({"store": str(box.home.database_file), **result.__dict__})
        return
    click.echo(
        f"restored {result.restored_from}: {result.readings:,} readings, {result.events:,} "
        "events (integrity and hash chain checked)"
    )
    if result.kept_aside:
        click.echo(f"the replaced store is kept as {result.kept_aside}")


COMMANDS = [readings, audit, backup, restore]
