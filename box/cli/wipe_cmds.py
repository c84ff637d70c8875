"""``safetybox wipe``: destroy the box's keys, so its store and backups can never be read."""

from __future__ import annotations

import sys
import time

import click

from box.cli.common import Context, json_option, pass_box, print_json
from box.client import BoxClient
from box.core.errors import BoxNotRunning
from box.instance import BoxRunning, InstanceLock, lock_file_for
from box.wipe import delete_store, mark, shred_keys


def _confirmed(box_id: str, confirm: str | None) -> bool:
    if confirm is not None:
        return confirm == box_id
    if not sys.stdin.isatty():
        raise click.UsageError("not a terminal: give --confirm BOX_ID to wipe without a prompt")
    typed = click.prompt(
        f"This destroys the keys of box {box_id}: its store and every backup become unreadable "
        f"for good. Type the box id to go on",
        default="",
        show_default=False,
    )
    return bool(typed == box_id)


def _stopped(box: Context, timeout_s: float) -> InstanceLock:
    """The store's lock, once no daemon holds it; kept while the keys are destroyed, so no
    daemon can start meanwhile."""
    lock = InstanceLock(lock_file_for(box.home.database_file))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            lock.acquire("wipe")
            return lock
        except BoxRunning as exc:
            if time.monotonic() >= deadline:
                raise click.ClickException(
                    f"{exc}; the box did not stop within {timeout_s:g} s: stop it "
                    "(systemctl stop safetybox) and run wipe again; nothing was destroyed"
                ) from None
            time.sleep(0.2)


@click.command()
@click.option("--confirm", metavar="BOX_ID", help="The box id, instead of typing it.")
@click.option("--delete-data", is_flag=True, help="Also remove the (unreadable) store files.")
@click.option(
    "--upstream-wait",
    type=click.FloatRange(0, 120),
    default=20,
    show_default=True,
    help="Seconds to wait for the platform to receive the wipe announcement.",
)
@json_option
@pass_box
def wipe(
    box: Context, confirm: str | None, delete_data: bool, upstream_wait: float, as_json: bool
) -> None:
    """Destroy the box's keys (crypto-shredding): the encrypted store and its backups can never
    be decrypted again. A running box first records a data_destruction event, sends it upstream
    (bounded wait) and stops; then the key files are overwritten and removed. The box refuses
    to start afterwards."""
    box_id = box.home.read_box_id()
    if not _confirmed(box_id, confirm):
        raise click.ClickException("the box id did not match: nothing was destroyed")
    upstream = "the box was not running: no announcement upstream"
    try:
        code, answer = BoxClient(box.home, timeout=upstream_wait + 30).post(
            "/api/wipe", {"confirm": box_id, "upstream_wait_s": upstream_wait, "who": "cli"}
        )
    except BoxNotRunning:
        code, answer = 0, {}
    if code and code != 200:
        raise click.ClickException(f"the box refused the wipe: {answer.get('error', answer)}")
    if code == 200:
        upstream = str(answer.get("upstream"))
    lock = _stopped(box, 60 if code == 200 else 0)
    try:
        mark(box.home, "cli")
        destroyed = [str(p) for p in shred_keys(box.home)]
        removed = [str(p) for p in delete_store(box.home)] if delete_data else []
    finally:
        lock.release()
    result = {"box_id": box_id, "upstream": upstream, "destroyed": destroyed, "removed": removed}
    if as_json:
        print_json(result)
        return
    click.echo(f"announcement: {upstream}")
    click.echo(f"destroyed {len(destroyed)} key files: {', '.join(destroyed) or '-'}")
    if removed:
        click.echo(f"removed {', '.join(removed)}")


COMMANDS = [wipe]
