"""Qorvo/Decawave DWM1001 over UART (115200 8N1): the shell's lep/lec/les stream, or the
binary TLV API polled with dwm_loc_get / dwm_pos_get.

After power-up or a reset the module speaks TLV; two carriage returns within a second enter
the shell (prompt ``dwm>``), ``quit`` leaves it. So in shell mode, silence for
``reenter_after_s`` (a reset is silent) sends ``\\r\\r`` and the stream command again;
in TLV mode, a response that is not TLV (the module left in the shell) sends ``quit`` and the
port is flushed before the next request.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import serial
from pydantic import ConfigDict, Field

from box.core.model import Identifier
from drivers.uwb import tlv
from drivers.uwb.base import UwbConfig, UwbDriver
from drivers.uwb.shell import ShellDecoder
from drivers.uwb.zh import zh_names


class Dwm1001Config(UwbConfig):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    type: Literal["uwb_dwm1001"] = "uwb_dwm1001"
    port: str = Field(description="serial device, e.g. /dev/ttyACM0")
    baudrate: int = Field(default=115200, ge=1200, le=4_000_000)
    mode: Literal["shell", "tlv"] = "shell"
    stream: Literal["lep", "lec", "les"] = Field(default="lep", description="shell output format")
    tlv_command: Literal["loc_get", "pos_get"] = "loc_get"
    tag: Identifier = Field(description="the tag id this module's positions belong to")
    poll_interval_s: float = Field(default=0.1, ge=0.05, le=60, description="TLV polling")
    reenter_after_s: float = Field(default=3.0, ge=0.5, le=600)


def open_port(port: str, baudrate: int, timeout: float = 0.2) -> serial.SerialBase:
    return serial.serial_for_url(port, baudrate=baudrate, timeout=timeout)


class Dwm1001Driver(UwbDriver):
    type_key = "uwb_dwm1001"
    config_model = Dwm1001Config
    config: Dwm1001Config

    def __init__(self, config: Any, sink: Any) -> None:
        super().__init__(config, sink)
        self.shell = ShellDecoder(self.config.tag)
        self.port: serial.SerialBase | None = None
        self.counters.update(reentries=0, tlv_errors=0)

    def start(self) -> None:
        self.port = open_port(self.config.port, self.config.baudrate)

    def stop(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None

    def run(self, stop: threading.Event) -> None:
        assert self.port is not None  # noqa: S101 - start() opened it
        if self.config.mode == "shell":
            self._run_shell(self.port, stop)
        else:
            self._run_tlv(self.port, stop)

    def diagnostics(self) -> dict[str, Any]:
        s = self.shell.stats
        return {
            **super().diagnostics(),
            "lines": s.lines,
            "dropped_lines": s.dropped,
            "last_dropped": s.last_dropped,
        }

    # -- shell ----------------------------------------------------------------------------

    def enter_shell(self, port: serial.SerialBase) -> None:
        port.write(b"\r\r")
        time.sleep(0.1)
        port.write(self.config.stream.encode() + b"\r")
        self.counters["reentries"] += 1

    def _run_shell(self, port: serial.SerialBase, stop: threading.Event) -> None:
        self.enter_shell(port)
        last_data = time.monotonic()
        while not stop.is_set():
            data = port.read(4096)
            now = time.monotonic()
            if data:
                fixes = self.shell.feed(data)
                if fixes:
                    last_data = now
                    self.emit(fixes)
            if now - last_data >= self.config.reenter_after_s:
                self.enter_shell(port)
                last_data = now

    # -- TLV ------------------------------------------------------------------------------

    def _run_tlv(self, port: serial.SerialBase, stop: threading.Event) -> None:
        loc = self.config.tlv_command == "loc_get"
        request, more = (tlv.LOC_GET, 2) if loc else (tlv.POS_GET, 1)
        while not stop.is_set():
            began = time.monotonic()
            port.write(request)
            try:
                data = tlv.read_response(lambda n: _read_exact(port, n), more)
                if loc:
                    fix = tlv.parse_loc(data).fix(self.config.tag)
                    if fix is not None:
                        self.emit([fix])
                else:
                    x, y, z, q = tlv.parse_pos(data)
                    self.emit([tlv.Location((x, y, z, q)).fix(self.config.tag)])  # type: ignore[list-item]
            except (tlv.TlvError, TimeoutError) as exc:
                self.counters["tlv_errors"] += 1
                self.refuse(str(exc))
                self._back_to_tlv(port)
            stop.wait(max(0.0, self.config.poll_interval_s - (time.monotonic() - began)))

    def _back_to_tlv(self, port: serial.SerialBase) -> None:
        """Out of a shell the module was left in (or after garbage): quit, then flush."""
        port.write(b"\rquit\r")  # the CR ends whatever partial line the shell holds
        time.sleep(0.05)
        port.reset_input_buffer()
        self.counters["reentries"] += 1


def _read_exact(port: serial.SerialBase, n: int) -> bytes:
    buf = b""
    deadline = time.monotonic() + 1.0
    while len(buf) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no complete TLV response ({len(buf)} of {n} bytes)")
        buf += port.read(n - len(buf))
    return buf
