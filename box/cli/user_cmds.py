"""``users list|add|reset|set-role|remove``: web accounts, for the admin at the box."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import click

from box.cli.common import Context, json_option, pass_box, print_json, report
from box.web.accounts import ROLES, AccountError, Accounts


@contextmanager
def _accounts(box: Context) -> Iterator[Accounts]:
    from box.config.schema import StoreSection
    from box.keys import STORE_KEY, FileKeyProvider
    from box.store.database import connect
    from box.store.writer import StoreWriter

    key = FileKeyProvider(box.home.keys_dir).get(STORE_KEY)
    writer = StoreWriter(box.home.database_file, key, StoreSection())
    writer.start()
    reader = connect(box.home.database_file, key, readonly=True)
    try:
        yield Accounts(writer, reader)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        reader.close()
        writer.stop()


def _audit(acc: Accounts, kind: str, **details: str) -> None:
    """The same audit events as the web page's, by the person at the box's shell."""
    import getpass
    import os

    from box.readings import now_ms
    from box.store.events import Event, Level

    details["by"] = f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"
    acc.writer.submit_event(Event(kind, "cli", now_ms(), Level.INFO, details))


@click.group()
def users() -> None:
    """Web page accounts (viewer, operator, admin)."""


@users.command(name="list")
@json_option
@pass_box
def list_users(box: Context, as_json: bool) -> None:
    """List accounts and their roles."""
    with _accounts(box) as acc:
        rows = acc.list()
    if as_json:
        print_json([{"name": u.name, "role": u.role, "must_change": u.must_change} for u in rows])
        return
    for u in rows:
        click.echo(f"{u.name:<20} {u.role:<9}{'  (must change password)' if u.must_change else ''}")


@users.command()
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@json_option
@pass_box
def add(box: Context, name: str, role: str, as_json: bool) -> None:
    """Create an account with a temporary password (changed at first login).

    \\b
    Example:
      safetybox users add li_wei --role operator
    """
    password = secrets.token_urlsafe(12)
    with _accounts(box) as acc:
        acc.create(name, password, role, must_change=True)
        _audit(acc, "user_created", user=name, role=role)
    if as_json:
        return print_json({"name": name, "role": role, "temporary_password": password})
    click.echo(f"{name} ({role}): temporary password {password}")


@users.command()
@click.argument("name")
@json_option
@pass_box
def reset(box: Context, name: str, as_json: bool) -> None:
    """Give an account a new temporary password (and lift a lockout).

    \\b
    Example:
      safetybox users reset admin
    """
    password = secrets.token_urlsafe(12)
    with _accounts(box) as acc:
        if acc.get(name) is None:
            raise click.ClickException(f"no account {name!r}")
        acc.set_password(name, password, must_change=True)
        _audit(acc, "password_reset", user=name)
    if as_json:
        return print_json({"name": name, "temporary_password": password})
    click.echo(f"{name}: temporary password {password} (must be changed at first login)")


@users.command(name="set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@json_option
@pass_box
def set_role(box: Context, name: str, role: str, as_json: bool) -> None:
    """Change an account's role (the last admin cannot be demoted).

    \b
    Example:
      safetybox users set-role li_wei admin
    """
    with _accounts(box) as acc:
        acc.set_role(name, role)
        _audit(acc, "user_role_changed", user=name, role=role)
    report(as_json, {"name": name, "role": role}, f"{name}: role {role}")


@users.command()
@click.argument("name")
@json_option
@pass_box
def remove(box: Context, name: str, as_json: bool) -> None:
    """Delete an account (never the last admin); its sessions end at once.

    \b
    Example:
      safetybox users remove old_contractor
    """
    with _accounts(box) as acc:
        acc.remove(name)
        _audit(acc, "user_removed", user=name)
    report(as_json, {"removed": name}, f"{name}: removed")


COMMANDS = [users]
