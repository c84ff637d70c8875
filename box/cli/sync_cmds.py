"""``keys rotate|export`` and ``consume``: key management and the reference consumer."""

from __future__ import annotations

import json
import sys
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
from box.cli.progress import count_bar
from box.keys import FileKeyProvider
from box.sync.keyring import SyncKeyring, write_export


@click.group()
def keys() -> None:
    """Sync key rotation and provisioning export."""


@keys.command()
@json_option
@pass_box
def rotate(box: Context, as_json: bool) -> None:
    """Retire the sync key and create a new one (restart or reload the box to use it).

    The retired key stays in the provisioning export, so consumers accept it for their grace
    period. Example:
      safetybox keys rotate
    """
    old, new = SyncKeyring(FileKeyProvider(box.home.keys_dir)).rotate()
    if as_json:
        print_json({"retired": old, "current": new})
    else:
        click.echo(f"sync key {old} retired; new sync key {new}. Re-export for the platform:")
        click.echo("  safetybox keys export -o box-keys.json")


@keys.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (mode 0600).")
@force_option
@click.option("--json", "as_json", is_flag=True, help="With -o: a JSON summary (no secrets).")
@pass_box
def export(box: Context, output: str | None, force: bool, as_json: bool) -> None:
    """Export box id, cipher and keys as JSON for an upstream platform to import.

    The file holds secrets: it is written with mode 0600. Example:
      safetybox keys export -o box-keys.json
    """
    from box.home import provisioning_export

    if output:
        refuse_existing(Path(output), force)
    data = provisioning_export(box.home)
    if output:
        write_export(Path(output), data)
        report(
            as_json,
            {"file": output, "mode": "0600", "box_id": data.get("box_id")},
            f"wrote {output} (mode 0600)",
        )
    else:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")


@click.command()
@click.option(
    "--provisioning",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The box's export (safetybox keys export).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=1883, show_default=True)
@click.option("--prefix", default="safetybox", show_default=True)
@click.option(
    "--client-id",
    help="MQTT client id (default: one of its own, kept in --state). Unique per consumer.",
)
@click.option("--username", help="Broker user name.")
@click.option(
    "--password",
    envvar="SAFETYBOX_MQTT_PASSWORD",
    help="Broker password (or the SAFETYBOX_MQTT_PASSWORD environment variable).",
)
@click.option(
    "--cafile",
    "--ca-file",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False),
    help="CA that signed the broker's certificate (TLS).",
)
@click.option(
    "--cert", type=click.Path(exists=True, dir_okay=False), help="Client certificate (mutual TLS)."
)
@click.option("--key", type=click.Path(exists=True, dir_okay=False), help="Its private key.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help="State file (what was received, what is gone): a restart writes no row twice.",
)
@click.option(
    "--grace-days",
    type=click.FloatRange(0, 365),
    default=7.0,
    show_default=True,
    help="Accept retired keys this long after rotation.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="JSONL file (default stdout)."
)
@click.option("--for", "duration", type=click.FloatRange(0.1, None), help="Stop after N seconds.")
@click.option("--json", "as_json", is_flag=True, help="The closing summary as JSON.")
def consume(
    provisioning: str,
    host: str,
    port: int,
    prefix: str,
    client_id: str | None,
    username: str | None,
    password: str | None,
    ca_file: str | None,
    cert: str | None,
    key: str | None,
    state_file: str | None,
    grace_days: float,
    output: str | None,
    duration: float | None,
    as_json: bool,
) -> None:
    """Reference consumer: verify, decrypt, de-duplicate per row and write a box's feed as
    JSONL; reports ranges still missing and ranges the box said are lost.

    \b
    Example:
      safetybox consume --provisioning box-keys.json --host broker.local \\
        --state feed.state -o feed.jsonl
    """
    from sim.upstream import Consumer, MqttConsumer

    if (cert is None) != (key is None):
        raise click.UsageError("give both --cert and --key, or neither")
    prov = json.loads(Path(provisioning).read_text())
    out = Path(output).open("a", encoding="utf-8") if output else sys.stdout
    try:
        consumer = Consumer(
            prov, grace_days, out, state_path=Path(state_file) if state_file else None
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    client = MqttConsumer(
        consumer,
        host,
        port,
        prefix,
        Path(ca_file) if ca_file else None,
        client_id=client_id,
        username=username,
        password=password,
        cert_file=Path(cert) if cert else None,
        key_file=Path(key) if key else None,
    ).start()
    started = time.monotonic()
    try:
        while duration is None or time.monotonic() - started < duration:
            time.sleep(0.2)
            with consumer.lock:
                out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        client.stop()
        with consumer.lock:
            consumer.save()
        out.flush()
        if output:
            out.close()
        holes, lost = consumer.holes(), consumer.lost()
        summary = {
            "records": consumer.records,
            "duplicates": consumer.duplicates,
            "rejected": len(consumer.rejected),
            "missing": holes,
            "lost": lost,
            "dropped": sum(d.get("count", 0) for d in consumer.dropped),
            "bad_hashes": consumer.bad_hashes,
        }
        if as_json:  # on stdout unless stdout carries the feed
            click.echo(json.dumps(summary, default=str), err=not output)
        else:
            click.echo(
                f"records {consumer.records}, duplicates {consumer.duplicates}, rejected "
                f"{len(consumer.rejected)}, missing {holes or 'none'}, lost {lost or 'none'}",
                err=True,
            )


def unsent_before(sync: dict[str, Any], head: dict[str, int]) -> int:
    """Rows stored up to ``head`` that have not been acknowledged by the broker yet."""
    cur = sync["cursors"]
    left = max(0, head["events"] - cur["events"]) + max(0, head["readings"] - cur["readings"])
    if cur["backfill"]:  # an older range still going up behind live data
        first, last = cur["backfill"]
        left += max(0, min(last, head["readings"]) - first + 1)
    return left


@click.group(name="sync")
def sync_group() -> None:
    """Upstream sync: what waits to go up, and waiting for a backfill to finish."""


def _sync_status(box: Context) -> dict[str, Any]:
    from box.client import BoxClient

    sync = BoxClient(box.home).status().get("sync", {})
    if "backlog" not in sync:
        raise click.ClickException("upstream sync is off: set [sync] enabled = true in box.toml")
    return sync


@sync_group.command(name="status")
@json_option
@pass_box
def sync_status(box: Context, as_json: bool) -> None:
    """Connection, backlog per stream and what was sent.

    \b
    Example:
      safetybox sync status
    """
    s = _sync_status(box)
    report(
        as_json,
        s,
        f"{'connected' if s['connected'] else 'NOT connected'}"
        f"{' (' + s['last_error'] + ')' if s.get('last_error') else ''}; backlog: "
        f"{s['backlog']['events']} events, {s['backlog']['readings']} readings; sent "
        f"{s['sent']['batches']} batches, {s['sent']['rows']} rows",
    )


@sync_group.command(name="wait")
@click.option("--timeout", type=click.FloatRange(1, 7 * 86400), default=3600.0, show_default=True)
@json_option
@pass_box
def sync_wait(box: Context, timeout: float, as_json: bool) -> None:
    """Wait until everything stored so far has reached the broker (e.g. the backfill after
    an outage); a progress bar on a terminal. Exit 1 if the timeout comes first.

    \b
    Example:
      safetybox sync wait --timeout 600
    """
    s = _sync_status(box)
    head = s["head"]
    total = unsent_before(s, head)
    started = time.monotonic()
    left = total
    with count_bar("upstream backfill") as progress:
        while True:
            left = unsent_before(s, head)
            progress(total - left, total)
            if left == 0 or time.monotonic() - started > timeout:
                break
            time.sleep(1.0)
            s = _sync_status(box)
    result = {"sent": total - left, "left": left, "seconds": round(time.monotonic() - started, 1)}
    report(as_json, result, f"sent {result['sent']} rows; {left} left")
    if left:
        raise SystemExit(1)


COMMANDS = [keys, consume, sync_group]
