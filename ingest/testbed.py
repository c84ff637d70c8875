"""Throw-away PostgreSQL and mosquitto on free loopback ports, for the tests and the bench.

PostgreSQL refuses to run as root: when we are root, the cluster runs as the ``postgres``
system user (or ``nobody``) through ``runuser``, in a temporary folder handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path


class Unavailable(RuntimeError):
    """PostgreSQL or mosquitto cannot be started here (the reason says why)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin(name: str) -> str:
    """A PostgreSQL program, all from one installation: Debian keeps them in
    /usr/lib/postgresql/VERSION/bin (newest first), off the PATH."""
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    found = shutil.which(name)
    if found:
        return found
    raise Unavailable(f"{name} not found (Debian package postgresql)")


def _run_as() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    for user in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser is None:
            raise Unavailable("running as root and runuser is missing: cannot start postgres")
        return [runuser, "-u", user, "--"], pw.pw_uid, pw.pw_gid
    raise Unavailable("running as root with no 'postgres' or 'nobody' user to run postgres as")


class TempPostgres:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.sock = workdir / "pgsock"
        self.port = free_port()
        self.prefix, uid, gid = _run_as()
        workdir.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        if uid is not None:
            for p in (workdir, self.sock):
                os.chown(p, uid, gid or 0)
            # Every folder above must be searchable by that user (pytest's tmp is 0700).
            for parent in workdir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        self.user = "ingest"
        self.log = workdir / "postgres.log"
        self._run(
            [
                pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            120,
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock}"
            " -c fsync=on -c max_connections=100 -c shared_buffers=64MB"
        )
        self._run(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
            90,
        )

    def _run(self, argv: list[str], timeout: float) -> None:
        res = subprocess.run(
            self.prefix + argv, capture_output=True, text=True, timeout=timeout, check=False
        )
        if res.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise Unavailable(f"{Path(argv[0]).name} failed: {res.stderr.strip()} {log[-500:]}")

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self.prefix
                + [pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )


class TempMosquitto:
    """A mosquitto for the bench (the tests use tests/broker.py)."""

    def __init__(self, workdir: Path, max_inflight: int = 1000) -> None:
        self.workdir = workdir
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 0",
            f"max_inflight_messages {max_inflight}",
            "log_dest stderr",
            "log_type error",
        ]
        if os.geteuid() == 0:
            conf.append("user root")
        (workdir / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise Unavailable("mosquitto not found (Debian package mosquitto)")
        self.logf = (workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [exe, "-c", str(workdir / "mosquitto.conf")], stdout=self.logf, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise Unavailable("mosquitto did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()
