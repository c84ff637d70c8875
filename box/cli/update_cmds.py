"""``safetybox update trust|status|apply|rollback``: signed offline updates from a USB stick."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import tempfile
from pathlib import Path

import click
from packaging.version import Version

from box import __version__
from box.atomic import write_atomic
from box.cli.common import Context, json_option, pass_box, print_json
from box.client import BoxClient
from box.core.errors import BoxNotRunning, SafetyBoxError
from box.update import bundle
from box.update.install import (
    COMPLETE,
    DEFAULT_ROOT,
    Root,
    install_version,
    running_version,
    switch_to,
    wait_healthy,
)
from box.update.signing import TRUSTED_KEY_NAME, UpdateRefused, load_public

DEFAULT_RESTART = "systemctl restart safetybox"


def _trusted_path(box: Context) -> Path:
    return box.home.keys_dir / TRUSTED_KEY_NAME


root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_ROOT,
    show_default=True,
    help="Install root holding versions/, current and previous.",
)


@click.group("update")
def update() -> None:
    """Signed offline updates: verify a bundle, install it beside the running version, switch,
    and roll back by itself if the new version does not come up healthy."""


@update.command("trust")
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace an installed key (a key rotation).")
@json_option
@pass_box
def trust(box: Context, public_key: Path, replace: bool, as_json: bool) -> None:
    """Install the release signing key (PEM Ed25519 public key), at provisioning."""
    pem = public_key.read_bytes()
    load_public(pem, str(public_key))
    target = _trusted_path(box)
    if target.exists() and not replace and target.read_bytes() != pem:
        raise click.ClickException(f"{target} holds another key: add --replace to rotate it")
    write_atomic(target, pem, mode=0o644)
    fingerprint = hashlib.sha256(pem).hexdigest()[:16]
    if as_json:
        print_json({"trusted": str(target), "sha256_16": fingerprint})
    else:
        click.echo(f"trusted {public_key} (sha256 {fingerprint}) as {target}")


@update.command("status")
@root_option
@json_option
@pass_box
def status(box: Context, root: Path, as_json: bool) -> None:
    """Installed versions, the current and previous one, and the trusted key."""
    r = Root(root)
    versions = sorted((p.parent.name for p in r.versions.glob(f"*/{COMPLETE}")), key=Version)
    key = _trusted_path(box)
    data = {
        "root": str(root),
        "running": __version__,
        "current": str(r.current.resolve()) if r.current.is_symlink() else None,
        "previous": str(r.previous.resolve()) if r.previous.is_symlink() else None,
        "installed": versions,
        "trusted_key": str(key) if key.exists() else None,
    }
    if as_json:
        print_json(data)
        return
    for name, value in data.items():
        click.echo(f"{name}: {value if value not in (None, []) else '-'}")


def _health(box: Context, version: Version, tolerated: set[str]) -> str | None:
    """None when the box answers with ``version`` and no problem beyond those it had before
    the update (a sensor already offline must not roll an update back); else why not."""
    try:
        st = BoxClient(box.home, timeout=3).status()
    except BoxNotRunning as exc:
        return str(exc)
    if st.get("version") != str(version):
        return f"the box answers with version {st.get('version')}, not {version}"
    new = set(map(str, st.get("problems", []))) - tolerated
    return f"unhealthy: {'; '.join(sorted(new))}" if new else None


def _problems_now(box: Context) -> set[str]:
    try:
        return set(map(str, BoxClient(box.home, timeout=3).status().get("problems", [])))
    except (BoxNotRunning, SafetyBoxError):
        return set()


def _restart(command: str) -> None:
    if not command:
        return
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        click.echo(f"restart command {command!r} exited {result.returncode}: "
                   f"{(result.stderr or result.stdout).strip()[:300]}", err=True)  # fmt: skip


@update.command("apply")
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@root_option
@click.option(
    "--restart-command",
    default=DEFAULT_RESTART,
    show_default=True,
    help="What restarts the box on the new version ('' if something else does).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(5, 3600),
    default=120,
    show_default=True,
    help="Seconds the new version has to report healthy before it is rolled back.",
)
@json_option
@pass_box
def apply(
    box: Context,
    bundle_file: Path,
    root: Path,
    restart_command: str,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Verify BUNDLE against the trusted key, install it, switch, and keep it only if healthy.

    Unsigned, tampered and downgrade bundles are refused before anything changes."""
    say = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    key_file = _trusted_path(box)
    if not key_file.exists():
        raise UpdateRefused(
            f"no trusted update key at {key_file}: install the release key at provisioning "
            "(safetybox update trust KEY.pub)"
        )
    trusted = load_public(key_file.read_bytes(), str(key_file))
    r = Root(root)
    r.path.mkdir(parents=True, exist_ok=True)
    current_env = r.current.resolve() if r.current.is_symlink() else None
    running = (running_version(current_env) if current_env else None) or Version(__version__)
    with tempfile.TemporaryDirectory(dir=r.path, prefix=".bundle-") as tmp:
        manifest = bundle.read(bundle_file, trusted, Path(tmp))
        if manifest.version <= running:
            raise UpdateRefused(
                f"refused: the bundle holds {manifest.version}, not newer than the installed "
                f"{running} (downgrades and reinstalls are refused)"
            )
        say(f"verified {bundle_file.name}: safetybox {manifest.version} "
                   f"({len(manifest.wheels)} wheels, signed {manifest.created})")  # fmt: skip
        target = install_version(r, manifest.version, Path(tmp), say)
    tolerated = _problems_now(box)
    before = switch_to(r, target)
    say(f"switched {r.current} -> {target}; restarting")
    _restart(restart_command)
    why = wait_healthy(lambda: _health(box, manifest.version, tolerated), timeout_s)
    if not why:
        if as_json:
            print_json({"updated_to": str(manifest.version), "healthy": True})
        else:
            click.echo(f"updated to {manifest.version}: healthy")
        return
    switch_to(r, before)
    _restart(restart_command)
    back = running_version(before)
    came_back = back is not None and not wait_healthy(
        lambda: _health(box, back, tolerated), timeout_s
    )
    state = "healthy again" if came_back else "NOT healthy yet: check the box"
    if as_json:
        print_json(
            {"updated_to": None, "refused_version": str(manifest.version), "reason": why,
             "rolled_back_to": str(back or before), "healthy": came_back}
        )  # fmt: skip
    raise click.ClickException(
        f"{manifest.version} did not report healthy within {timeout_s:g} s ({why}); "
        f"rolled back to {back or before} ({state})"
    )


@update.command("rollback")
@root_option
@click.option("--restart-command", default=DEFAULT_RESTART, show_default=True)
@json_option
def rollback(root: Path, restart_command: str, as_json: bool) -> None:
    """Switch back to the previous version by hand and restart."""
    r = Root(root)
    if not r.previous.is_symlink():
        raise click.ClickException(f"{r.previous} does not exist: nothing to roll back to")
    target = r.previous.resolve()
    switch_to(r, target)
    _restart(restart_command)
    if as_json:
        print_json({"current": str(target)})
    else:
        click.echo(f"switched {r.current} -> {target}")


COMMANDS = [update]
