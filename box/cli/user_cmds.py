"""``users list|add|reset|set-role|remove``: web accounts, for the admin at the box."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import quote

import click

from box.cli.common import Context, json_option, pass_box, print_json, report
from box.client import BoxClient
from box.core.errors import BoxNotRunning
from box.instance import DAEMON, BoxRunning
from box.web.accounts import ROLES, AccountError, Accounts


class _UserAdmin(Protocol):
    """The account operations of this command group, done directly or through the box."""

    def list(self) -> list[dict[str, Any]]: ...
    def add(self, name: str, role: str) -> str: ...
    def reset(self, name: str) -> str: ...
    def set_role(self, name: str, role: str) -> None: ...
    def remove(self, name: str) -> None: ...


def _by() -> str:
    import getpass

    return f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


class _Direct:
    """No box runs: this command is the store's one writer while it works."""

    def __init__(self, acc: Accounts) -> None:
        self.acc = acc

    def _audit(self, kind: str, **details: str) -> None:
        """The same audit events as the web page's, by the person at the box's shell."""
        from box.core.levels import Level
        from box.core.records import Event, now_ms

        details["by"] = _by()
        self.acc.writer.submit_event(Event(kind, "cli", now_ms(), Level.INFO, details))

    def list(self) -> list[dict[str, Any]]:
        return [
            {"name": u.name, "role": u.role, "must_change": u.must_change} for u in self.acc.list()
        ]

    def add(self, name: str, role: str) -> str:
        password = secrets.token_urlsafe(12)
        self.acc.create(name, password, role, must_change=True)
        self._audit("user_created", user=name, role=role)
        return password

    def reset(self, name: str) -> str:
        if self.acc.get(name) is None:
            raise AccountError(f"no account {name!r}")
        password = secrets.token_urlsafe(12)
        self.acc.set_password(name, password, must_change=True)
        self._audit("password_reset", user=name)
        return password

    def set_role(self, name: str, role: str) -> None:
        self.acc.set_role(name, role)
        self._audit("user_role_changed", user=name, role=role)

    def remove(self, name: str) -> None:
        self.acc.remove(name)
        self._audit("user_removed", user=name)


class _ViaBox:
    """A box runs and owns the store: ask it, over its local API (it audits the change)."""

    def __init__(self, client: BoxClient) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        sent = None if method == "GET" else {**(body or {}), "who": _by()}
        code, answer = self.client.call(method, path, sent)
        if code != 200:
            raise AccountError(answer.get("error") or f"the box answered HTTP {code}")
        return answer

    def list(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/users")["users"]

    def add(self, name: str, role: str) -> str:
        return self._call("POST", "/api/users", {"name": name, "role": role})["temporary_password"]

    def reset(self, name: str) -> str:
        return self._call("POST", f"/api/users/{quote(name, safe='')}/reset")["temporary_password"]

    def set_role(self, name: str, role: str) -> None:
        self._call("PUT", f"/api/users/{quote(name, safe='')}", {"role": role})

    def remove(self, name: str) -> None:
        self._call("DELETE", f"/api/users/{quote(name, safe='')}")


@contextmanager
def _accounts(box: Context, verb: str) -> Iterator[_UserAdmin]:
    """Directly on the store when no box runs; through the running box otherwise (two writers
    on one store would collide on the event sequence)."""
    from box.keys import STORE_KEY, FileKeyProvider
    from box.store.config import StoreSection
    from box.store.database import connect
    from box.store.writer import StoreWriter

    key = FileKeyProvider(box.home.keys_dir).get(STORE_KEY)
    try:
        writer = StoreWriter(box.home.database_file, key, StoreSection(), owner=f"users {verb}")
    except BoxRunning as exc:
        if exc.holder.role != DAEMON:
            raise
        try:
            yield _ViaBox(BoxClient(box.home))
        except AccountError as err:
            raise click.ClickException(str(err)) from None
        except BoxNotRunning as err:
            raise click.ClickException(
                f"{exc.holder.describe()} owns the store but its API does not answer: {err}"
            ) from None
        return
    writer.start()
    reader = connect(box.home.database_file, key, readonly=True)
    try:
        yield _Direct(Accounts(writer, reader))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        reader.close()
        writer.flush()
        writer.stop()


@click.group()
def users() -> None:
    """Web page accounts (viewer, operator, admin)."""


@users.command(name="list")
@json_option
@pass_box
def list_users(box: Context, as_json: bool) -> None:
    """List accounts and their roles."""
    with _accounts(box, "list") as acc:
        rows = acc.list()
    if as_json:
        print_json(rows)
        return
    for u in rows:
        must = "  (must change password)" if u["must_change"] else ""
        click.echo(f"{u['name']:<20} {u['role']:<9}{must}")


@users.command()
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@json_option
@pass_box
def add(box: Context, name: str, role: str, as_json: bool) -> None:
    """Create an account with a temporary password (changed at first login).

    \b
    Example:
      safetybox users add li_wei --role operator
    """
    with _accounts(box, "add") as acc:
        password = acc.add(name, role)
    if as_json:
        return print_json({"name": name, "role": role, "temporary_password": password})
    click.echo(f"{name} ({role}): temporary password {password}")


@users.command()
@click.argument("name")
@json_option
@pass_box
def reset(box: Context, name: str, as_json: bool) -> None:
    """Give an account a new temporary password (and lift a lockout).

    \b
    Example:
      safetybox users reset admin
    """
    with _accounts(box, "reset") as acc:
        password = acc.reset(name)
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
    with _accounts(box, "set-role") as acc:
        acc.set_role(name, role)
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
    with _accounts(box, "remove") as acc:
        acc.remove(name)
    report(as_json, {"removed": name}, f"{name}: removed")


COMMANDS = [users]
