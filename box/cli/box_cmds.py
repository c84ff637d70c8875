"""``init``, ``run`` and ``status``: set up a box, run it, see what it sees."""

from __future__ import annotations

import os

import click

from box.cli.common import Context, json_line, json_logs, json_option, pass_box, print_json
from box.client import BoxClient
from box.numbers import DEFAULT_DECIMALS, shown
from box.timeparse import iso_utc


@click.command()
@click.option("--demo", is_flag=True, help="Write a config for a simulated demo site.")
@click.option("--name", default="SafetyBox", show_default=True, help="Display name of the box.")
@json_option
@pass_box
def init(box: Context, demo: bool, name: str, as_json: bool) -> None:
    """Create the config, box id and keys. Never overwrites existing keys or config.

    \b
    Example:
      safetybox --home ./site init --demo
    """
    from box.home import initialise

    home = box.home
    r = initialise(home, demo, name)
    result = {
        "box_id": r.box_id,
        "config": str(home.config_file),
        "keys": str(home.keys_dir),
        "data": str(home.data_dir),
        "sync_key_id": r.sync_key_id,
        "created": r.created,
        "web_login": {"user": "admin", "password": r.admin_password} if r.admin_password else None,
        "web_certificate": {"file": str(r.certificate), "sha256": r.certificate_sha256},
    }
    if as_json:
        print_json(result)
        return
    click.echo(f"box id     {result['box_id']}")
    for label, key in (("config", "config"), ("keys", "keys"), ("data", "data")):
        click.echo(f"{label:<10} {result[key]}")
    click.echo(f"sync key   id {result['sync_key_id']}")
    click.echo(f"web TLS    {r.certificate} (for [web] https = true)")
    click.echo(f"           SHA-256 {r.certificate_sha256}")
    made = [k for k, v in r.created.items() if v]
    kept = [k for k, v in r.created.items() if not v]
    click.echo("created: " + (", ".join(made) or "nothing (already initialised)"))
    if kept:
        click.echo("kept as they were: " + ", ".join(kept))
    if r.admin_password:
        click.echo(
            f"web page login: admin / {r.admin_password}  (you must change it at first login;"
            " it is not shown again)"
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Log JSON lines (for log collectors).")
@pass_box
def run(box: Context, as_json: bool) -> None:
    """Run the box in the foreground until SIGTERM or Ctrl-C; SIGHUP reloads the config.

    \b
    Example:
      safetybox --home ./site run
    """
    from box.client import base_url
    from box.runtime.daemon import Daemon

    daemon = Daemon(box.home)
    url = f"{base_url(box.home)}/api/status"
    if as_json:
        json_logs()
        json_line(event="starting", pid=os.getpid(), status=url)
    else:
        click.echo(f"SafetyBox starting (pid {os.getpid()}); status: {url}")
    daemon.run_forever()


@click.command()
@json_option
@pass_box
def status(box: Context, as_json: bool) -> None:
    """Show what the running box sees: channels, drivers, queues, store.

    \b
    Example:
      safetybox status --json
    """
    s = BoxClient(box.home).status()
    if as_json:
        print_json(s)
        return
    health = "healthy" if s["healthy"] else "UNHEALTHY: " + "; ".join(s["problems"])
    click.echo(f"{s['name']} ({s['box_id']}) v{s['version']}  up {s['uptime_s']:.0f} s  {health}")
    st = s["store"]
    click.echo(
        f"store: {st['stored_readings']} readings ({st['committed_readings']} this run), "
        f"{st['committed_events']} events this run, "
        f"{st['size_bytes'] / 1e6:.1f} MB, dropped {st['dropped_readings']}; "
        f"queues pipeline {s['queues']['pipeline']} store {s['queues']['store']}"
    )
    for d in s["drivers"]:
        err = f"  last error: {d['last_error']}" if d["last_error"] else ""
        click.echo(f"driver {d['name']} ({d['type']}): {d['state']}, {d['restarts']} restarts{err}")
    for name, why in s["failed_driver_imports"].items():
        click.echo(f"driver type {name}: FAILED TO IMPORT: {why}")
    click.echo(f"{'channel':<22}{'value':>12} {'unit':<8}{'quality':<10}{'age s':>8}  alarms")
    for c in s["channels"]:
        value = shown(c["value"], c.get("decimals", DEFAULT_DECIMALS))
        age = "-" if c["age_s"] is None else f"{c['age_s']:.1f}"
        click.echo(
            f"{c['id']:<22}{value:>12} {c['unit']:<8}{c['quality']:<10}{age:>8}  "
            f"{','.join(c['alarms_active']) or '-'}"
        )
    if s["alarms"]:
        click.echo(f"alarms ({len(s['alarms'])}, first out {s['first_out'] or '-'}):")
        for a in s["alarms"]:
            shelved = "  SHELVED" if a["shelved"] else ""
            click.echo(f"  {a['id']:<28} L{a['level']} {a['colour']:<7} {a['state']}{shelved}")
    else:
        click.echo("alarms: none")
    outs = "  ".join(
        f"{n}={o['mode']}" + (f" (fail-safe, pin {o['level']})" if o.get("fail_safe") else "")
        for n, o in s["outputs"].items()
    )
    click.echo(f"outputs: {outs or 'none configured'}")
    if s["silenced_until"]:
        click.echo(f"buzzer silenced until {iso_utc(int(s['silenced_until'] * 1000))}")
    sync = s.get("sync", {})
    if sync.get("enabled") is False:
        click.echo("sync: off")
    elif sync:
        state = "connected" if sync["connected"] else f"NOT connected ({sync['last_error']})"
        b = sync["backlog"]
        click.echo(f"sync: {state}; backlog {b['events']} events, {b['readings']} readings")
    click.echo(f"as of {iso_utc(s['started_ms'] + int(s['uptime_s'] * 1000))}")


@click.command()
@json_option
@pass_box
def doctor(box: Context, as_json: bool) -> None:
    """Check config, keys, store, serial ports, GPIO, clock, disk and broker; say what to fix.

    Exit status 1 if any check fails. Example:
      safetybox doctor
    """
    import sys

    from box.doctor import FAIL, run_checks

    checks = run_checks(box.home)
    if as_json:
        print_json([c.__dict__ for c in checks])
    else:
        for c in checks:
            fix = f"\n      fix: {c.fix}" if c.fix and c.status != "ok" else ""
            click.echo(f"[{c.status.upper():>4}] {c.name}: {c.detail}{fix}")
    if any(c.status == FAIL for c in checks):
        sys.exit(1)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script.

    \b
    Example (bash):
      safetybox completion bash > /etc/bash_completion.d/safetybox
    """
    from click.shell_completion import get_completion_class

    from box.cli import main

    cls = get_completion_class(shell)
    assert cls is not None  # noqa: S101 - the choice lists only supported shells
    click.echo(cls(main, {}, "safetybox", "_SAFETYBOX_COMPLETE").source())


COMMANDS = [init, run, status, doctor, completion]
