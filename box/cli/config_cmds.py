"""``config check|show|apply|reload``: validate, inspect and change the box's config."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Any

import click
import tomli_w

from box.atomic import write_atomic
from box.cli.common import Context, json_option, pass_box, print_json
from box.client import BoxClient
from box.config.loader import ConfigInvalid, context_for, load_config, parse_config
from box.config.secrets import mask_secrets
from box.core.errors import BoxNotRunning, ConfigError


@click.group()
def config() -> None:
    """Validate, show and change the config (box.toml)."""


@config.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@json_option
@pass_box
def check(box: Context, file: str | None, as_json: bool) -> None:
    """Validate a config file without running it (default: the box's own).

    \b
    Example:
      safetybox config check /tmp/new-box.toml
    """
    path = Path(file) if file else box.home.config_file
    try:  # a candidate file is checked against this box's own profiles, wherever it lies
        cfg = load_config(path, context=context_for(box.home.config_file))
    except ConfigInvalid as exc:
        if as_json:
            print_json(
                {
                    "valid": False,
                    "file": str(path),
                    "errors": [
                        {
                            "line": i.line,
                            "path": i.dotted,
                            "value": i.shown_value,
                            "reason": i.reason,
                        }
                        for i in exc.issues
                    ],
                }
            )
            sys.exit(1)
        raise
    summary = {
        "valid": True,
        "file": str(path),
        "channels": len(cfg.channels),
        "drivers": len(cfg.drivers),
    }
    if as_json:
        print_json(summary)
    else:
        made = f", {len(cfg.device_templates)} device templates" if cfg.device_templates else ""
        click.echo(
            f"{path}: valid ({len(cfg.channels)} channels, {len(cfg.drivers)} drivers{made})"
        )


@config.command()
@click.option(
    "--templates",
    "templates",
    is_flag=True,
    help="Show the device templates as written and what each expands to, not the config.",
)
@json_option
@pass_box
def show(box: Context, templates: bool, as_json: bool) -> None:
    """Print the effective config, defaults filled in, secrets masked. Device templates are
    shown expanded: every channel and device they make is listed like a written one, so the
    output is a complete box.toml without templates (--templates shows the templates).

    \b
    Example:
      safetybox config show --templates
    """
    cfg = load_config(box.home.config_file)
    if templates:
        _show_templates(cfg, as_json)
        return
    data = mask_secrets(cfg.model_dump(mode="json", exclude={"device_templates"}))
    if as_json:
        print_json(data)
    else:
        click.echo(tomli_w.dumps(_drop_none(data)), nl=False)


def _show_templates(cfg: Any, as_json: bool) -> None:
    """Each template with its defaults filled in, and per unit the channels it made."""
    out = []
    for tpl in cfg.device_templates:
        produced = {
            str(d.unit): sorted(d.channels.values())
            for drv in cfg.drivers
            if drv.name == tpl.driver
            for d in getattr(drv, "devices", [])
            if d.unit in tpl.unit_ids()
        }
        out.append({**tpl.model_dump(mode="json"), "expands_to": produced})
    if as_json:
        print_json({"device_templates": out})
        return
    if not out:
        click.echo("no device templates in this config")
        return
    for item in out:
        units = item.pop("expands_to")
        click.echo(
            f"# template {item['name']!r} on {item['driver']}: {len(units)} devices, "
            f"{sum(map(len, units.values()))} channels"
        )
        for unit, channels in units.items():
            click.echo(f"#   unit {unit}: {', '.join(channels)}")
    click.echo(tomli_w.dumps(_drop_none({"device_templates": out})), nl=False)


@config.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@pass_box
def apply(box: Context, file: str, as_json: bool) -> None:
    """Validate FILE, install it as box.toml atomically and make the running box reload it.

    \b
    Example:
      safetybox config apply /tmp/new-box.toml
    """
    path = Path(file)
    text = path.read_text(encoding="utf-8")
    # Raises with every problem, before anything is touched; the box's own profiles count.
    parse_config(text, str(path), context=context_for(box.home.config_file))
    write_atomic(box.home.config_file, text, mode=0o640)
    if not as_json:
        click.echo(f"installed {path} as {box.home.config_file}")
    _reload(box, who=f"cli:{_user()}", as_json=as_json, installed=str(box.home.config_file))


@config.command()
@json_option
@pass_box
def reload(box: Context, as_json: bool) -> None:
    """Make the running box re-read box.toml (same as SIGHUP).

    \b
    Example:
      safetybox config reload --json
    """
    _reload(box, who=f"cli:{_user()}", as_json=as_json)


def _reload(box: Context, who: str, as_json: bool, installed: str | None = None) -> None:
    """Report as text or JSON: ``{"running": bool, "accepted": bool, "changed": [...]}``."""
    extra = {"installed": installed} if installed else {}
    try:
        code, result = BoxClient(box.home).reload(who)
    except BoxNotRunning:
        if as_json:
            print_json({**extra, "running": False, "accepted": None, "changed": []})
        else:
            click.echo("the box is not running; it will use the new config when it starts")
        return
    lines = result.get("errors") or ([] if code == 200 else [result.get("error", f"HTTP {code}")])
    if as_json:
        print_json(
            {
                **extra,
                "running": True,
                "accepted": code == 200,
                "changed": result.get("changed", []),
                "errors": lines,
            }
        )
        if code != 200:
            raise SystemExit(1)
        return
    if code == 200:
        changed = result.get("changed", [])
        click.echo(f"applied; changed: {', '.join(changed[:10]) or 'nothing'}")
        return
    raise ConfigError("the box rejected the config and keeps the old one:\n  " + "\n  ".join(lines))


def _user() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _drop_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(v) for v in node]
    return node


COMMANDS = [config]
