"""Small filesystems made by the tests: a size-limited tmpfs (a full disk) and a loop-mounted
ext4 image that the kernel turns read-only under a running box (an SD card that gave up).
Mounting needs root (or CAP_SYS_ADMIN); without it the tests skip and say why."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _skip_unless(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        why = f"cannot {what} here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}"
        pytest.skip(reason=why)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    _skip_unless(_run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)), "mount")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def ext4_image(
    path: Path, image: Path, size_mb: int = 32, readonly: bool = False
) -> Iterator[Path]:
    """An ext4 image loop-mounted with errors=remount-ro (what an SD card's fstab says)."""
    path.mkdir(parents=True, exist_ok=True)
    if not image.exists():
        with open(image, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        _skip_unless(_run("mkfs.ext4", "-q", "-F", str(image)), "make an ext4 image")
    # noload: a read-only mount must not need the journal replayed (that would write).
    opts = "loop,errors=remount-ro" + (",ro,noload" if readonly else "")
    _skip_unless(_run("mount", "-o", opts, str(image), str(path)), "loop-mount an image")
    try:
        yield path
    finally:
        _run("umount", str(path))


def fail_to_read_only(mount: Path) -> None:
    """What the kernel does when the card reports an error: the filesystem goes read-only
    under open files (errors=remount-ro), every further write fails with EROFS."""
    dev = Path(os.path.realpath(_device_of(mount))).name
    trigger = Path("/sys/fs/ext4") / dev / "trigger_fs_error"
    if not trigger.exists():
        pytest.skip(reason=f"{trigger} is missing: this kernel cannot inject an ext4 error")
    trigger.write_text("safetybox test: the card gave up\n")


def _device_of(mount: Path) -> str:
    for line in Path("/proc/mounts").read_text().splitlines():
        dev, where, *_ = line.split()
        if where == str(mount):
            return dev
    raise AssertionError(f"{mount} is not mounted")


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``folder`` up (but ``leave`` bytes); returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # unbuffered
    try:
        for size in (65536, 4096, 512):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass  # ENOSPC: on to smaller writes, to the last block
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
