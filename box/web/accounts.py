"""User accounts in the encrypted store: argon2id password hashes and roles.

Roles: ``viewer`` (sees), ``operator`` (also acknowledges, silences, shelves), ``admin`` (also
changes config and users). Writes go through the store writer (one writer for every table).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from box.core.errors import SafetyBoxError
from box.core.records import now_ms

if TYPE_CHECKING:
    import sqlite3

    from argon2 import PasswordHasher

    from box.store.writer import StoreWriter

ROLES = ("viewer", "operator", "admin")


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2 (and cffi under it) loads at the first password check, not with the web page."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Verifying against this when a user does not exist costs the same time as a real check,
    so response times do not reveal which user names exist. Made at the first such login, not
    at import: an argon2id hash takes ~0.2 s and 64 MB, which every CLI command used to pay."""
    return _hasher().hash(secrets.token_hex(16))


class AccountError(SafetyBoxError, ValueError):
    """A refused account operation; the message is safe to show the user."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    must_change: bool
    # Changes with the password: sessions opened with another stamp are void (box.web.sessions).
    stamp: str = field(default="", compare=False, repr=False)

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def check_password(password: str, name: str) -> None:
    from box.web.passwords import password_problem

    problem = password_problem(password, name)
    if problem:
        raise AccountError(problem)


class Accounts:
    def __init__(self, writer: StoreWriter, reader: sqlite3.Connection) -> None:
        self.writer = writer  # every write goes through its transaction
        self.reader = reader  # a read-only connection

    def get(self, name: str) -> User | None:
        row = self.reader.execute(
            "SELECT name, role, must_change, password_hash FROM users WHERE name = ?", (name,)
        ).fetchone()
        return User(row[0], row[1], bool(row[2]), _stamp(row[3])) if row else None

    def list(self) -> list[User]:
        rows = self.reader.execute("SELECT name, role, must_change FROM users ORDER BY name")
        return [User(n, r, bool(m)) for n, r, m in rows]

    def create(self, name: str, password: str, role: str, must_change: bool = True) -> User:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if not name.isidentifier() or len(name) > 32:
            raise AccountError("user names are letters, digits and _ (at most 32)")
        check_password(password, name)
        digest = _hasher().hash(password)

        def insert(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"user {name!r} exists already")
            conn.execute(
                "INSERT INTO users(name, password_hash, role, must_change, created_ts) "
                "VALUES (?,?,?,?,?)",
                (name, digest, role, int(must_change), now_ms()),
            )

        self.writer.call(insert)
        return User(name, role, must_change)

    def verify(self, name: str, password: str) -> User:
        """The user if the password is right; AccountError (no detail) otherwise. Guessing is
        slowed per name and address by the caller (box.web.login_throttle), never by locking
        the account: a lock would let anyone keep the real user out."""
        row = self.reader.execute(
            "SELECT password_hash, role, must_change FROM users WHERE name = ?", (name,)
        ).fetchone()
        from argon2.exceptions import InvalidHashError, VerificationError

        if row is None:
            try:
                _hasher().verify(_dummy(), password)
            except VerificationError:
                pass
            raise AccountError("wrong user name or password")
        digest, role, must_change = row
        try:
            _hasher().verify(digest, password)
        except (VerificationError, InvalidHashError):
            raise AccountError("wrong user name or password") from None
        return User(name, role, bool(must_change), _stamp(digest))

    def change_password(self, name: str, old: str, new: str) -> None:
        self.verify(name, old)
        if new == old:
            raise AccountError("the new password must differ from the old one")
        self.set_password(name, new, must_change=False)

    def set_password(self, name: str, new: str, must_change: bool) -> None:
        check_password(new, name)
        digest = _hasher().hash(new)
        self.writer.call(
            lambda conn: conn.execute(
                "UPDATE users SET password_hash = ?, must_change = ?, failed = 0, locked_until = 0 "
                "WHERE name = ?",
                (digest, int(must_change), name),
            )
        )

    def set_role(self, name: str, role: str) -> None:
        """Change a role; the last admin cannot be demoted (someone must manage the box)."""
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")

        def update(conn: sqlite3.Connection) -> None:
            _exists(conn, name)
            if role != "admin":
                _not_the_last_admin(conn, name, "demote")
            conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))

        self.writer.call(update)

    def remove(self, name: str) -> None:
        """Delete an account (its sessions end at their next request); never the last admin."""

        def delete(conn: sqlite3.Connection) -> None:
            _exists(conn, name)
            _not_the_last_admin(conn, name, "remove")
            conn.execute("DELETE FROM users WHERE name = ?", (name,))

        self.writer.call(delete)

    def ensure_admin(self) -> str | None:
        """Create ``admin`` with a random password if no user exists; returns that password."""
        if self.reader.execute("SELECT count(*) FROM users").fetchone()[0]:
            return None
        password = secrets.token_urlsafe(12)
        self.create("admin", password, "admin", must_change=True)
        return password


def _exists(conn: sqlite3.Connection, name: str) -> None:
    if not conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise AccountError(f"no account {name!r}")


def _not_the_last_admin(conn: sqlite3.Connection, name: str, verb: str) -> None:
    # Checked inside the writer's transaction, so two admins demoting each other at once
    # cannot both succeed.
    admins = [r[0] for r in conn.execute("SELECT name FROM users WHERE role = 'admin'")]
    if admins == [name]:
        raise AccountError(f"cannot {verb} {name!r}: it is the last admin account")


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]
