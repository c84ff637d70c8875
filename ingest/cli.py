"""``safetybox-ingest``: migrate, import keys, run a worker, send commands, report, bench."""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ingest.brokers import BrokerAddress

DSN_HELP = "PostgreSQL connection string (libpq), or $SAFETYBOX_INGEST_DSN."


def _dsn(f: Any) -> Any:
    return click.option("--dsn", envvar="SAFETYBOX_INGEST_DSN", required=True, help=DSN_HELP)(f)


def _broker(f: Any) -> Any:
    """The broker options, handed to the command as one ``broker`` (BrokerAddress)."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        host: str,
        port: int,
        prefix: str,
        username: str | None,
        password: str | None,
        ca_file: str | None,
        **kw: Any,
    ) -> Any:
        from ingest.brokers import BrokerAddress

        ca = Path(ca_file) if ca_file else None
        return f(*args, broker=BrokerAddress(host, port, prefix, username, password, ca), **kw)

    opts = [
        click.option("--host", default="127.0.0.1", show_default=True, help="MQTT broker."),
        click.option("--port", default=1883, show_default=True, type=int),
        click.option(
            "--prefix", default="safetybox", show_default=True, help="The boxes' topic_prefix."
        ),
        click.option("--username", default=None, help="Broker user name."),
        click.option(
            "--password",
            envvar="SAFETYBOX_INGEST_MQTT_PASSWORD",
            default=None,
            help="Broker password, or $SAFETYBOX_INGEST_MQTT_PASSWORD.",
        ),
        click.option(
            "--ca-file",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="TLS: the CA that signed the broker's certificate.",
        ),
    ]
    for opt in opts:
        wrapper = opt(wrapper)
    return wrapper


@click.group()
@click.option("-v", "--verbose", is_flag=True)
def main(verbose: bool) -> None:
    """Reference ingest service: the boxes' sealed MQTT feed into PostgreSQL (docs/PLATFORM.md)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )


@main.command()
@_dsn
@click.option(
    "--timescale",
    type=click.Choice(["auto", "yes", "no"]),
    default="auto",
    show_default=True,
    help="Hypertables when the timescaledb extension exists.",
)
def migrate(dsn: str, timescale: str) -> None:
    """Create or upgrade the schema (safe to run from every worker at start)."""
    from ingest.migrations import migrate as run

    applied = run(dsn, timescale)
    click.echo(f"applied {applied}" if applied else "schema is up to date")


@main.group()
def keys() -> None:
    """The key registry."""


@keys.command("import")
@_dsn
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--grace-days", default=7.0, show_default=True, help="How long a retired key is still accepted."
)
@click.option(
    "--command-seq",
    type=int,
    default=None,
    help="The last command number the box accepted (a box commanded before).",
)
def keys_import(
    dsn: str, files: tuple[str, ...], grace_days: float, command_seq: int | None
) -> None:
    """Import boxes' key exports (``safetybox keys export -o box-keys.json``)."""
    import psycopg

    from ingest.registry import ExportError, import_export

    with psycopg.connect(dsn) as conn:
        for f in files:
            try:
                data = json.loads(Path(f).read_text(encoding="utf-8"))
                box = import_export(conn, data, grace_days, command_seq)
            except (ExportError, ValueError) as exc:
                raise click.ClickException(f"{f}: {exc}") from None
            click.echo(f"{f}: box {box} imported")


@keys.command("revoke")
@_dsn
@click.argument("box")
@click.argument("key_id")
def keys_revoke(dsn: str, box: str, key_id: str) -> None:
    """Stop accepting a key at once (a leaked key gets no grace period)."""
    import psycopg

    from ingest.registry import revoke

    with psycopg.connect(dsn) as conn:
        if not revoke(conn, box, key_id):
            raise click.ClickException(f"box {box} has no key {key_id}")
    click.echo(f"key {key_id} of {box} revoked")


@main.command()
@_dsn
@_broker
@click.option("--group", default="ingest", show_default=True, help="Shared subscription group.")
@click.option("--client-id", required=True, help="Stable and unique per worker (its session).")
@click.option("--session-expiry-s", default=7 * 86400, show_default=True, type=int)
@click.option(
    "--metrics",
    "metrics_addr",
    default="127.0.0.1:9108",
    show_default=True,
    help="HOST:PORT of /metrics and /health; 'off' for none.",
)
@click.option("--no-migrate", is_flag=True, help="Do not create or upgrade the schema first.")
@click.option(
    "--resend-holes-after",
    "resend_after_s",
    default=300.0,
    show_default=True,
    help="Ask boxes to resend holes open this long (seconds; 0: never).",
)
def run(
    dsn: str,
    broker: BrokerAddress,
    group: str,
    client_id: str,
    session_expiry_s: int,
    metrics_addr: str,
    no_migrate: bool,
    resend_after_s: float,
) -> None:
    """Run one worker until SIGTERM or SIGINT."""
    from ingest.metrics import MetricsServer
    from ingest.migrations import migrate as run_migrations
    from ingest.service import Worker, worker_config

    if not no_migrate:
        run_migrations(dsn)
    worker = Worker(worker_config(dsn, broker, group, client_id, session_expiry_s))
    server = None
    if metrics_addr != "off":
        mhost, _, mport = metrics_addr.rpartition(":")
        server = MetricsServer(worker.metrics, dsn, worker.healthy, mhost, int(mport)).start()
        click.echo(f"metrics on http://{mhost}:{server.port}/metrics", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    click.echo(f"worker {client_id} started", err=True)
    if resend_after_s > 0:
        from ingest.holes import request_resends

        def holes() -> None:
            while not stop.wait(min(30.0, resend_after_s)):
                try:
                    request_resends(dsn, broker, resend_after_s)
                except Exception:  # noqa: BLE001 - retried on the next round
                    logging.getLogger("ingest").exception("ingest: resend requests failed")

        threading.Thread(target=holes, name="ingest-holes", daemon=True).start()
    stop.wait()
    worker.stop()
    if server:
        server.stop()


@main.command()
@_dsn
@_broker
@click.option("--group", default="ingest", show_default=True)
@click.option("--client-id", required=True, help="The worker taken away (not running).")
@click.option("--idle-s", default=5.0, show_default=True, help="Quiet time that means drained.")
def retire(dsn: str, broker: BrokerAddress, group: str, client_id: str, idle_s: float) -> None:
    """Take a worker away for good: drain its session's queue, then end the session."""
    from ingest.service import Worker, worker_config

    worker = Worker(worker_config(dsn, broker, group, client_id)).start()
    try:
        if not worker.retire(idle_s):
            raise click.ClickException("could not drain the session (broker unreachable?)")
    finally:
        worker.ingestor.close()
    click.echo(f"session {client_id} drained and ended")


@main.command()
@_dsn
@_broker
@click.argument("box")
@click.argument("action", type=click.Choice(["ack", "threshold", "resend", "output"]))
@click.argument("params", nargs=-1)
@click.option("--note", default="", help="ack: the note.")
@click.option("--who", default="platform", show_default=True, help="Operator name.")
@click.option("--wait", "wait_s", default=0.0, help="Seconds to wait for the box's reply.")
def command(
    dsn: str,
    broker: BrokerAddress,
    box: str,
    action: str,
    params: tuple[str, ...],
    note: str,
    who: str,
    wait_s: float,
) -> None:
    """Send a sealed command to BOX.

    \b
      command BOX ack ALARM [--note TEXT]
      command BOX threshold CHANNEL LEVEL AT
      command BOX resend events|readings FIRST LAST
      command BOX output RELAY on|off|release
    """
    from ingest.commands import CommandError, send

    shapes = {"ack": 1, "threshold": 3, "resend": 3, "output": 2}
    if len(params) != shapes[action]:
        raise click.UsageError(f"{action} takes {shapes[action]} argument(s), got {len(params)}")
    args: dict[str, Any]
    try:
        if action == "ack":
            cmd, args = "ack_alarm", {"alarm": params[0], "note": note}
        elif action == "threshold":
            cmd, args = (
                "set_threshold",
                {"channel": params[0], "level": params[1], "at": float(params[2])},
            )
        elif action == "resend":
            cmd, args = (
                "resend",
                {"stream": params[0], "first": int(params[1]), "last": int(params[2])},
            )
        else:
            states = {"on": True, "off": False, "release": None}
            if params[1] not in states:
                raise click.UsageError("output state must be on, off or release")
            cmd, args = "set_output", {"relay": params[0], "active": states[params[1]]}
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        out = send(dsn, broker, box, cmd, args, who, wait_s)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(out, default=str))


@main.command("resend-holes")
@_dsn
@_broker
@click.option(
    "--older-than",
    "older_than_s",
    default=120.0,
    show_default=True,
    help="Seconds a hole must have been open.",
)
@click.option("--dry-run", is_flag=True, help="List the requests without sending them.")
def resend_holes(dsn: str, broker: BrokerAddress, older_than_s: float, dry_run: bool) -> None:
    """Ask boxes to resend ranges that stayed missing (sealed ``resend`` commands)."""
    from ingest.holes import request_resends

    for item in request_resends(dsn, broker, older_than_s, dry_run):
        click.echo(json.dumps(item))


@main.command()
@_dsn
def report(dsn: str) -> None:
    """Per box and stream: rows, duplicates, holes; gaps, rejections, chain breaks (JSON)."""
    import psycopg

    from ingest.report import summary

    with psycopg.connect(dsn) as conn:
        click.echo(json.dumps(summary(conn), indent=2, default=str))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
@click.option("--short", is_flag=True, help="A quick run (~20 s) for tests.")
@click.option("--boxes", default=200, show_default=True)
def bench(as_json: bool, short: bool, boxes: int) -> None:
    """Sealed rows/s into PostgreSQL with one and with two workers (temporary PostgreSQL and
    mosquitto on loopback)."""
    from ingest.bench import run_bench

    result = run_bench(boxes=boxes, short=short, echo=lambda s: click.echo(s, err=True))
    if as_json:
        click.echo(json.dumps(result))
    else:
        for k, v in result.items():
            click.echo(f"{k}: {v}")
    if result["lost"] or result["duplicates"]:
        sys.exit(1)
