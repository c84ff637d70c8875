"""``safetybox doctor``: check what a box needs and say what to fix."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from box.paths import BoxHome, setup_advice

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def run_checks(home: BoxHome) -> list[Check]:
    from box.config.loader import load_config
    from box.core.errors import SafetyBoxError

    checks: list[Check] = []
    try:
        config = load_config(home.config_file)
        checks.append(Check("config", OK, f"{home.config_file} is valid"))
    except SafetyBoxError as exc:
        missing = not home.config_file.exists()
        checks.append(
            Check(
                "config",
                FAIL,
                f"{home.config_file} not found" if missing else str(exc).splitlines()[0],
                setup_advice(home.config_file)
                if missing
                else f"safetybox config check {home.config_file}",
            )
        )
        config = None
    checks += _keys(home)
    checks.append(_store(home))
    if config is not None:
        checks += _serial_ports(config, home)
        checks.append(_gpio(config.outputs.pin_factory))
        if config.sync.enabled:
            checks.append(_broker(config.sync.host, config.sync.port))
        if config.web.https:
            checks.append(_web_certificate(home, config.web.cert_file))
    checks.append(_clock())
    checks.append(_disk(home.data_dir))
    return checks


def _keys(home: BoxHome) -> list[Check]:
    out = []
    for path in sorted(home.keys_dir.glob("*.key")):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            out.append(
                Check(
                    f"key {path.name}",
                    FAIL,
                    f"mode {mode:o}: readable by others",
                    f"chmod 600 {path}",
                )
            )
        else:
            out.append(Check(f"key {path.name}", OK, "mode 600"))
    if not out:
        out.append(Check("keys", FAIL, f"no keys in {home.keys_dir}", setup_advice(home.keys_dir)))
    return out


def _web_certificate(home: BoxHome, cert_file: str) -> Check:
    from box.tls import days_left, default_paths, fingerprint

    path = Path(cert_file) if cert_file else default_paths(home.keys_dir)[0]
    try:
        left, sha = days_left(path), fingerprint(path)
    except (OSError, ValueError) as exc:
        return Check("web certificate", FAIL, f"{path}: {exc}", "safetybox init")
    if left < 30:
        status = FAIL if left < 0 else WARN
        return Check(
            "web certificate",
            status,
            f"{path} expires in {left:.0f} days",
            f"rm {path} and run safetybox init for a new one (browsers will ask again)",
        )
    return Check("web certificate", OK, f"{left:.0f} days left, SHA-256 {sha}")


def _store(home: BoxHome) -> Check:
    from box.core.errors import SafetyBoxError
    from box.keys import STORE_KEY, FileKeyProvider
    from box.store.database import connect

    keys = FileKeyProvider(home.keys_dir)
    if not keys.path(STORE_KEY).exists():
        return Check("store", FAIL, f"no store key at {keys.path(STORE_KEY)}", "see keys")
    try:
        conn = connect(home.database_file, keys.get(STORE_KEY), readonly=True)
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.close()
    except SafetyBoxError as exc:
        fix = "restore the store key, or the store (safetybox restore FILE)"
        if not home.database_file.exists():
            fix = setup_advice(home.database_file)
        return Check("store", FAIL, str(exc), fix)
    if result != "ok":
        return Check("store", FAIL, f"quick_check: {result}", "restore from a backup")
    return Check("store", OK, f"{home.database_file} opens and checks ok")


def _serial_ports(config: object, home: BoxHome) -> list[Check]:
    out = []
    for drv in getattr(config, "drivers", []):
        port = getattr(drv, "port", None)
        if not port:
            continue
        if not os.path.exists(port):
            out.append(
                Check(
                    f"serial {port}",
                    FAIL,
                    f"driver {drv.name}: no such port",
                    "check the USB-RS485 adapter and its cable; ls /dev/serial/by-id",
                )
            )
        elif not os.access(port, os.R_OK | os.W_OK):
            out.append(
                Check(
                    f"serial {port}",
                    FAIL,
                    "no read/write access",
                    "add the service user to the dialout group",
                )
            )
        else:
            out.append(_open_with_settings(drv, port, home))
    return out


def _open_with_settings(drv: object, port: str, home: BoxHome) -> Check:
    """Open the port as the driver will (its baud rate, parity and stop bits): an adapter or
    a device node that refuses the settings fails here with the operating system's words."""
    from box.instance import DAEMON, InstanceLock, lock_file_for
    from drivers.modbus.line_faults import port_busy
    from drivers.modbus.serial_open import serial_open_error, settings_text

    baud, parity, stopbits = (getattr(drv, k) for k in ("baudrate", "parity", "stopbits"))
    name = getattr(drv, "name", "?")
    settings = settings_text(baud, parity, stopbits)
    err = serial_open_error(port, baud, parity, stopbits)
    if err is None:
        return Check(f"serial {port}", OK, f"driver {name} can open it at {settings}")
    holder = InstanceLock(lock_file_for(home.database_file)).holder()
    if port_busy(err) and holder is not None and holder.role == DAEMON:
        return Check(f"serial {port}", OK, f"in use by the running box (driver {name})")
    return Check(
        f"serial {port}",
        FAIL,
        f"driver {name}: cannot open it at {settings}: {err}",
        "another program holds it (fuser -v PORT)"
        if port_busy(err)
        else "check the port is a serial device and the adapter supports these settings",
    )


def _gpio(factory: str) -> Check:
    chips = sorted(Path("/dev").glob("gpiochip*"))
    if factory == "mock":
        return Check(
            "gpio",
            WARN,
            "outputs use mock pins (config outputs.pin_factory)",
            'set pin_factory = "auto" on a Raspberry Pi',
        )
    if not chips:
        return Check(
            "gpio",
            WARN,
            "no /dev/gpiochip*: outputs fall back to mock pins",
            "run on the board with GPIO, or accept mock outputs",
        )
    if not all(os.access(c, os.R_OK | os.W_OK) for c in chips):
        return Check("gpio", FAIL, "no access to /dev/gpiochip*", "add the user to the gpio group")
    return Check("gpio", OK, f"{len(chips)} GPIO chip(s) accessible")


def _broker(host: str, port: int) -> Check:
    try:
        with socket.create_connection((host, port), timeout=3):
            return Check("broker", OK, f"{host}:{port} reachable")
    except OSError as exc:
        return Check(
            "broker",
            WARN,
            f"{host}:{port}: {exc} (data waits in the outbox)",
            "check the network, or sync.host/sync.port",
        )


def _clock() -> Check:
    if time.gmtime().tm_year < 2024:
        return Check(
            "clock",
            FAIL,
            "the clock is not set (year < 2024)",
            "set the time; enable NTP: timedatectl set-ntp true",
        )
    tdc = shutil.which("timedatectl")
    if tdc:
        try:
            synced = subprocess.run(
                [tdc, "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            synced = ""
        if synced == "no":
            return Check("clock", WARN, "not synchronised by NTP", "timedatectl set-ntp true")
        if synced == "yes":
            return Check("clock", OK, "synchronised by NTP")
    return Check("clock", OK, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


def _disk(path: Path) -> Check:
    target = path if path.exists() else path.parent
    usage = shutil.disk_usage(target)
    free_mb = usage.free / 1e6
    if free_mb < 200 or usage.free / usage.total < 0.05:
        return Check(
            "disk",
            FAIL,
            f"{free_mb:.0f} MB free on {target}",
            "free space, or lower store.max_size_mb",
        )
    return Check("disk", OK, f"{free_mb:,.0f} MB free on {target}")
