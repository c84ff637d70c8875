"""``bench ...``: performance figures as JSON; the last line of output is one JSON object."""

from __future__ import annotations

import json

import click

from box.cli.progress import phase_bar


@click.group()
def bench() -> None:
    """Benchmarks (print JSON; the last line is one JSON object)."""


@bench.command()
@click.option(
    "--readings",
    type=click.IntRange(10_000, 100_000_000),
    default=1_000_000,
    show_default=True,
    help="Readings in the saturating phase.",
)
@click.option("--channels", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--all-cores", is_flag=True, help="Do not pin the process to one CPU.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def pipeline(readings: int, channels: int, all_cores: bool, as_json: bool) -> None:
    """Readings/s through the rule stage and encrypted store, vs plain SQLite inserts.

    \b
    Example:
      safetybox bench pipeline --json
    """
    from box.bench.pipeline import PHASES, run

    with phase_bar("bench pipeline", PHASES) as step:
        result = run(readings, channels, one_core=not all_cores, step=step)
    if not as_json:
        click.echo(
            f"pipeline {result['readings_per_s']:,} readings/s; plain SQLite "
            f"{result['baseline_readings_per_s']:,}/s; ratio {result['ratio']}; p99 commit "
            f"{result['p99_commit_ms']} ms at {result['latency_rate_per_s']:,}/s"
        )
    click.echo(json.dumps(result))


@bench.command()
@click.option("--tags", type=click.IntRange(1, 100_000), default=500, show_default=True)
@click.option("--zones", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option(
    "--updates",
    type=click.IntRange(1000, 100_000_000),
    default=200_000,
    show_default=True,
    help="Position updates in the saturating phase.",
)
@click.option(
    "--paced-s",
    type=click.FloatRange(0.5, 600),
    default=8.0,
    show_default=True,
    help="Seconds of the paced latency phase.",
)
@click.option("--one-core", is_flag=True, help="Pin the process to one CPU.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def positioning(
    tags: int, zones: int, updates: int, paced_s: float, one_core: bool, as_json: bool
) -> None:
    """Tag updates/s through parsing, transform, zone tests, rules and store; p99 latency from
    an update to its alarm at 10 Hz per tag.

    \b
    Example:
      safetybox bench positioning --json
    """
    from box.bench.positioning import PHASES, run

    with phase_bar("bench positioning", PHASES) as step:
        result = run(tags, zones, updates, one_core=one_core, paced_s=paced_s, step=step)
    if not as_json:
        click.echo(
            f"positioning {result['updates_per_s']:,} updates/s ({tags} tags, {zones} zones); "
            f"update-to-alarm p99 {result['p99_ms']} ms at {result['latency_rate_per_s']:,}/s"
        )
    click.echo(json.dumps(result))


@bench.command(name="alarm-latency")
@click.option("--probes", type=click.IntRange(10, 100_000), default=500, show_default=True)
@click.option(
    "--background",
    type=click.FloatRange(0, 1_000_000),
    default=10_000,
    show_default=True,
    help="Background readings per second.",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def alarm_latency(probes: int, background: float, as_json: bool) -> None:
    """Reading-in to output-pin-changed latency under background load (p50/p99).

    \b
    Example:
      safetybox bench alarm-latency --json
    """
    from box.bench.alarm_latency import PHASES, run

    with phase_bar("bench alarm-latency", PHASES) as step:
        result = run(probes, background, step=step)
    if not as_json:
        click.echo(
            f"reading -> pin: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"max {result['max_ms']} ms with {result['background_readings_per_s']:,} readings/s"
        )
    click.echo(json.dumps(result))


@bench.command(name="sync")
@click.option(
    "--readings", type=click.IntRange(1000, 100_000_000), default=1_000_000, show_default=True
)
@click.option("--broker", help="HOST:PORT of a broker to use (default: start mosquitto).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def sync_bench(readings: int, broker: str | None, as_json: bool) -> None:
    """Drain a stored backlog to MQTT with AES-256-GCM and with SM4-GCM, consumer-verified.

    \b
    Example:
      safetybox bench sync --json
    """
    from box.bench.sync_drain import PHASES, run

    with phase_bar("bench sync", PHASES) as step:
        result = run(readings, broker, step=step)
    if not as_json:
        click.echo(
            f"{readings:,} readings: AES-256-GCM {result['aes_drain_s']} s, SM4-GCM "
            f"{result['sm4_drain_s']} s; consumer saw {result['delivered']:,}"
        )
    click.echo(json.dumps(result))


@bench.command(name="modbus")
@click.option("--seconds", type=click.FloatRange(1, 600), default=10.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def modbus_bench(seconds: float, as_json: bool) -> None:
    """RTU wire efficiency at 9600 baud (32 devices) and TCP datapoints/s (32 x 8 registers).

    \b
    Example:
      safetybox bench modbus --json
    """
    from box.bench.modbus_bench import PHASES, run

    with phase_bar("bench modbus", PHASES) as step:
        result = run(seconds, step=step)
    if not as_json:
        click.echo(
            f"RTU {result['rtu_transactions_per_s']} transactions/s of "
            f"{result['rtu_wire_limit_per_s']} the wire allows "
            f"({result['rtu_wire_efficiency']:.0%}); TCP "
            f"{result['tcp_datapoints_per_s']:,} datapoints/s stored at "
            f"{result['tcp_cpu_percent']} % CPU"
        )
    click.echo(json.dumps(result))


@bench.command(name="uplink")
@click.option("--short", is_flag=True, help="A ~15 s run (checks shape and loss, not timings).")
@click.option(
    "--outage",
    type=click.FloatRange(0.5, 600),
    default=None,
    help="Seconds the broker is stopped  [default: 20; 2 with --short]",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def uplink_bench(short: bool, outage: float | None, as_json: bool) -> None:
    """Modbus TCP simulator (32 units x 8 points) -> the daemon -> mosquitto -> a consumer:
    datapoints/s, polls lost, read-to-broker p50/p99, CPU and RSS, reconnect after an outage.

    \b
    Example:
      safetybox bench uplink --json
    """
    from box.bench.uplink import PHASES, run

    with phase_bar("bench uplink", PHASES) as step:
        result = run(short=short, outage_s=outage, step=step)
    if not as_json:
        click.echo(
            f"{result['datapoints_per_s']:,} datapoints/s at {result['poll_s']} s polls, "
            f"{result['polls_lost']} polls lost; read -> broker p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms; {result['cpu_ms_per_dp']} CPU ms per datapoint, "
            f"RSS {result['rss_mib']} MiB; data again {result['reconnect_s']} s after a "
            f"{result['outage_s']:.0f} s broker outage"
        )
        fastest = result["fastest"]
        if fastest:
            click.echo(
                f"fastest loss-free poll {fastest['poll_s']} s: "
                f"{fastest['datapoints_per_s']:,} datapoints/s, p50 {fastest['p50_ms']} ms, "
                f"p99 {fastest['p99_ms']} ms"
            )
        else:
            click.echo(result["fastest_note"])


@bench.command(name="vision")
@click.option(
    "--seconds",
    type=click.FloatRange(1, 60),
    default=4.0,
    show_default=True,
    help="Per measurement.",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def vision(seconds: float, as_json: bool) -> None:
    """Person model frames/s at 1 and 2 threads, frame-to-event latency, gating CPU saving.

    \b
    Example:
      safetybox bench vision --json
    """
    from box.bench.vision_bench import PHASES, run

    with phase_bar("bench vision", PHASES) as step:
        result = run(seconds, step=step)
    if not as_json:
        click.echo(
            f"person model {result['fps_1_thread']} frames/s on 1 thread, "
            f"{result['fps_2_threads']} on 2; frame -> event p99 "
            f"{result['frame_to_event_p99_ms']} ms; motion gating cuts static-scene CPU "
            f"{result['motion_gating_cpu_ratio']}x"
        )
    click.echo(json.dumps(result))


COMMANDS = [bench]
