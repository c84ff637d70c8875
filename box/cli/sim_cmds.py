"""``sim ...``: simulators that stand in for devices and people on a demo or test site."""

from __future__ import annotations

import time

import click

from box.cli.common import Context, json_line, pass_box
from box.client import BoxClient


@click.group()
def sim() -> None:
    """Simulators for demos and tests."""


@sim.command()
@click.option(
    "--ack-after",
    type=click.FloatRange(0, 3600),
    default=20.0,
    show_default=True,
    help="Seconds before a new alarm is acknowledged.",
)
@click.option(
    "--stop-after",
    type=click.FloatRange(1, None),
    default=None,
    help="Stop after this many seconds (default: run until stopped).",
)
@click.option("--json", "as_json", is_flag=True, help="Report each action as a JSON line.")
@pass_box
def operator(box: Context, ack_after: float, stop_after: float | None, as_json: bool) -> None:
    """A scripted operator: acknowledges alarms after a delay, resets latched ones when clear.

    \b
    Example (what make demo runs beside the box):
      safetybox --home .demo sim operator --ack-after 20
    """
    from sim.operator import DemoOperator

    say = (
        (lambda text: json_line(ts=round(time.time(), 3), message=text)) if as_json else click.echo
    )
    say(f"demo operator: acknowledging alarms {ack_after:g} s after they appear")
    DemoOperator(BoxClient(box.home), ack_after, say).run(stop_after)


@sim.command()
@click.option(
    "--scenario",
    type=click.Choice(["demo", "unauthorised", "loiter", "sos", "stopped", "battery", "muster"]),
    default="demo",
    show_default=True,
)
@click.option("--json-tcp", "json_port", type=click.IntRange(0, 65535), help="JSON on this port.")
@click.option("--dwm-link", type=click.Path(dir_okay=False), help="A DWM1001 node's pty link.")
@click.option("--linktrack-link", type=click.Path(dir_okay=False), help="A LinkTrack pty link.")
@click.option("--garbage", type=click.FloatRange(0, 1), default=0.0, help="Damaged lines share.")
@click.option("--interleave", type=click.FloatRange(0, 1), default=0.0)
@click.option("--stop-after", type=click.FloatRange(1, None), default=None)
@click.option("--json", "as_json", is_flag=True, help="Report as JSON lines.")
def uwb(
    scenario: str,
    json_port: int | None,
    dwm_link: str | None,
    linktrack_link: str | None,
    garbage: float,
    interleave: float,
    stop_after: float | None,
    as_json: bool,
) -> None:
    """People with UWB tags walking scripted paths (DWM1001, LinkTrack, JSON over TCP).

    \b
    Example (what make demo runs beside the box):
      safetybox sim uwb --scenario demo --json-tcp 15030
    """
    from sim.uwb import run_scenario
    from sim.uwb import scenario as walkers_of

    if json_port is None and not dwm_link and not linktrack_link:
        raise click.UsageError("give --json-tcp, --dwm-link or --linktrack-link")
    run_scenario(
        walkers_of(scenario),
        stop_after,
        json_port,
        dwm_link,
        "lep",
        linktrack_link,
        garbage,
        interleave,
        (lambda text: json_line(ts=round(time.time(), 3), message=text)) if as_json else click.echo,
    )


def _units(text: str) -> list[int]:
    try:
        units = [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give unit ids like 3,7,12") from None
    if not units or any(not 1 <= u <= 247 for u in units):
        raise click.BadParameter(f"{text!r}: unit ids are 1..247")
    return units


def _setpoints(items: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise click.BadParameter(
                f"{item!r}: give NAME=VALUE, e.g. A1=0.5", param_hint="--setpoint"
            )
    return out


@sim.command()
@click.option(
    "--profile",
    "profile_names",
    required=True,
    multiple=True,
    help="Device profile (repeat to give one per unit, else all units share it).",
)
@click.option("--units", required=True, help="Unit ids, e.g. 3,7,12.")
@click.option("--pty", "use_pty", is_flag=True, help="Serve RTU on a new pseudo-terminal.")
@click.option("--tcp", "tcp_port", type=click.IntRange(0, 65535), help="Serve Modbus TCP here.")
@click.option("--link", type=click.Path(dir_okay=False), help="With --pty: a symlink to it.")
@click.option(
    "--scenario",
    type=click.Choice(["steady", "drift", "leak", "release", "fault", "warmup", "calibration"]),
    default="steady",
    show_default=True,
)
@click.option("--base", type=float, default=10.0, show_default=True, help="Base value.")
@click.option(
    "--noise",
    type=click.FloatRange(0, 50),
    default=0.5,
    show_default=True,
    help="Steady scenario: noise in %% of the base value (0: exactly the base, as a test gas).",
)
@click.option(
    "--fault-code",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve this code in the profile's fault-code registers (default: the scenario's).",
)
@click.option(
    "--word-swap",
    is_flag=True,
    help="Serve 2-register values in the other word order than the profile declares "
    "(reproduces a wrong word order in a field install; alarm bits stay right).",
)
@click.option(
    "--setpoint",
    "setpoints",
    multiple=True,
    metavar="NAME=VALUE",
    help="The device's own alarm setpoint, e.g. A1=0.5 (repeat); its a1/a2 status bit is set "
    "while the value is at or above it.",
)
@click.option("--baud", type=click.IntRange(300, 921600), help="Delay frames by their wire time.")
@click.option("--no-answer", type=click.FloatRange(0, 1), default=0.0, help="Probability.")
@click.option("--crc-errors", type=click.FloatRange(0, 1), default=0.0, help="Probability.")
@click.option("--exception", "exception_code", type=click.IntRange(0, 11), default=0)
@click.option("--stray-bytes", type=click.FloatRange(0, 1), default=0.0, help="Probability.")
@click.option("--late", type=click.FloatRange(0, 10), default=0.0, help="Answer delay, s.")
@click.option(
    "--replug-every",
    type=click.FloatRange(1, 3600),
    default=None,
    help="With --pty --link: close the port every N s and reopen it 2 s later "
    "(a USB adapter pulled out and plugged back).",
)
@click.option("--json", "as_json", is_flag=True, help="First line as JSON.")
@pass_box
def modbus(
    box: Context,
    as_json: bool,
    profile_names: tuple[str, ...],
    units: str,
    use_pty: bool,
    tcp_port: int | None,
    link: str | None,
    scenario: str,
    base: float,
    noise: float,
    fault_code: int | None,
    word_swap: bool,
    setpoints: tuple[str, ...],
    baud: int | None,
    no_answer: float,
    crc_errors: float,
    exception_code: int,
    stray_bytes: float,
    late: float,
    replug_every: float | None,
) -> None:
    """A Modbus slave serving device profiles, until stopped. The first line of output names
    the pseudo-terminal (``pty PATH``) or the port (``tcp 127.0.0.1:PORT``); with ``--json``
    it is ``{"pty": PATH, "link": ...}`` or ``{"tcp": "127.0.0.1:PORT"}``. Profiles: the
    shipped ones and the box's own (``profiles/`` beside box.toml, see --home).

    \b
    Example:
      safetybox sim modbus --profile generic-gas-probe --units 3,7,12 --pty
    """
    import os
    import signal
    import threading
    from pathlib import Path

    from drivers.modbus.profiles import load_profiles
    from sim.modbus_slave import DeviceSim, Faults, PtySlave, Slave, TcpSlave

    if use_pty == (tcp_port is not None):
        raise click.UsageError("give exactly one of --pty or --tcp PORT")
    ids = _units(units)
    profiles = load_profiles(box.home.profiles_dir)  # shipped ones and the box's own
    names = list(profile_names) * len(ids) if len(profile_names) == 1 else list(profile_names)
    if len(names) != len(ids):
        raise click.UsageError("give one --profile, or one per unit")
    for n in names:
        if n not in profiles:
            raise click.BadParameter(
                f"unknown profile {n!r}; known: {', '.join(sorted(profiles))} "
                f"(the box's own go in {box.home.profiles_dir})"
            )
    limits = _setpoints(setpoints)
    try:
        devices = [
            DeviceSim(
                profiles[n],
                u,
                scenario,  # type: ignore[arg-type]
                base,
                fault_code=fault_code,
                word_swap=word_swap,
                setpoints=limits,
                noise=noise / 100,
            )
            for n, u in zip(names, ids, strict=True)
        ]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--setpoint") from None
    faults = Faults(
        no_answer=no_answer,
        late_s=late,
        crc_error=crc_errors,
        exception=exception_code,
        stray_bytes=stray_bytes,
    )
    slave = Slave(devices, faults, baud)
    server: PtySlave | TcpSlave
    if use_pty:
        server = PtySlave(slave).start()
        where = f"pty {server.path}"
        if link:
            Path(link).unlink(missing_ok=True)
            os.symlink(server.path, link)
            where += f" (link {link})"
    else:
        server = TcpSlave(slave, tcp_port or 0).start()
        where = f"tcp 127.0.0.1:{server.port}"
    if as_json:
        info = (
            {"pty": server.path, "link": link}
            if isinstance(server, PtySlave)
            else {"tcp": f"127.0.0.1:{server.port}"}
        )
        json_line(**info)
    else:
        click.echo(where, nl=True)
    import sys

    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    if replug_every and not (use_pty and link):
        raise click.UsageError("--replug-every needs --pty and --link")
    running = True
    try:
        while not done.wait(replug_every or 3600):
            if not (replug_every and isinstance(server, PtySlave) and link):
                continue
            Path(link).unlink(missing_ok=True)
            server.stop()  # unplugged
            running = False
            if done.wait(2.0):
                return
            server = PtySlave(slave).start()
            running = True
            os.symlink(server.path, link)  # plugged back in, as a new device node
    finally:
        if running:
            server.stop()
        if use_pty and link:
            Path(link).unlink(missing_ok=True)


COMMANDS = [sim]
