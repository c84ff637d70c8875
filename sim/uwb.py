"""Simulated people with UWB tags, speaking the positioning systems' own wire protocols.

- :class:`Walker`: a person walking a scripted path on the site plan (site metres), with an
  SOS press, a battery that drains, or a stop (a worker who no longer moves).
- :class:`Dwm1001Node`: a DWM1001 module's UART as a state machine: after reset it speaks
  TLV (``dwm_pos_get``, ``dwm_loc_get``, update rate, config, version, tag/anchor config);
  two carriage returns enter the shell, where ``lep``/``lec``/``les`` start a stream of lines
  at the update rate (with garbage and interleaving injected on request) and ``quit`` returns to
  TLV. :class:`PtyDevice` serves one over a pseudo-terminal.
- :func:`linktrack_stream`: LinkTrack TagFrame0 frames for many tags with junk between them.
- :class:`JsonTcpServer` and :func:`publish_mqtt`: JSON positions over TCP or MQTT.
- :data:`SCENARIOS`: unauthorised entry, boundary loitering, SOS, a worker who stops, a dying
  battery, a muster; on the demo plan (:data:`DEMO_ZONES`).
"""

from __future__ import annotations

import json
import os
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.uwb import linktrack, tlv
from drivers.uwb.transform import Transform


@dataclass
class Walker:
    """A person's scripted path: (t, x, y) way points, linear in between, standing after."""

    tag: str
    path: list[tuple[float, float, float]]
    sos_at: tuple[float, float] | None = None  # pressed from .. to (s)
    battery_start: float = 95.0
    battery_drain_per_s: float = 0.0
    jitter_m: float = 0.0
    period_s: float | None = None  # the path repeats (demo walkers go round all day)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def at(self, t: float) -> tuple[float, float]:
        p = self.path
        if self.period_s:
            t %= self.period_s
        if t <= p[0][0]:
            x, y = p[0][1], p[0][2]
        elif t >= p[-1][0]:
            x, y = p[-1][1], p[-1][2]
        else:
            k = next(i for i in range(1, len(p)) if p[i][0] >= t)
            (t0, x0, y0), (t1, x1, y1) = p[k - 1], p[k]
            f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        if self.jitter_m:
            x += self.rng.uniform(-self.jitter_m, self.jitter_m)
            y += self.rng.uniform(-self.jitter_m, self.jitter_m)
        return x, y

    def battery(self, t: float) -> float:
        return max(0.0, self.battery_start - self.battery_drain_per_s * t)

    def sos(self, t: float) -> bool:
        return self.sos_at is not None and self.sos_at[0] <= t < self.sos_at[1]


# -- DWM1001 ---------------------------------------------------------------------------------


def lep_line(x: float, y: float, z: float = 1.0, q: int = 90) -> str:
    return f"POS,{x:.2f},{y:.2f},{z:.2f},{q}"


def lec_line(x: float, y: float, z: float = 1.0, q: int = 90) -> str:
    anchors = [(0x022E, 0.0, 0.0), (0x9280, 20.0, 0.0), (0xDCAE, 20.0, 20.0), (0x5431, 0.0, 20.0)]
    parts = [f"DIST,{len(anchors)}"]
    for i, (addr, ax, ay) in enumerate(anchors):
        d = ((x - ax) ** 2 + (y - ay) ** 2 + z**2) ** 0.5
        parts.append(f"AN{i},{addr:04X},{ax:.2f},{ay:.2f},0.00,{d:.2f}")
    return ",".join(parts) + "," + lep_line(x, y, z, q)


def les_line(x: float, y: float, z: float = 1.0, q: int = 90) -> str:
    anchors = "022E[0.00,0.00,0.00]=3.38 9280[20.00,0.00,0.00]=5.49"
    return f"{anchors} le_us=3082 est[{x:.2f},{y:.2f},{z:.2f},{q}]"


TLV_GAP_S = 0.05  # the module drops a TLV frame left incomplete this long
LINES: dict[str, Callable[..., str]] = {"lep": lep_line, "lec": lec_line, "les": les_line}
BANNER = (
    b"\r\nDWM1001 TWR Real Time Location System\r\n\r\n"
    b"Copyright :  2016-2019 LEAPS and Decawave\r\n"
    b"License   :  Please visit https://decawave.com/dwm1001_license\r\n"
    b"Compiled  :  Mar 18 2019 15:49:15\r\n\r\nHelp      :  ? or help\r\n\r\n"
)


@dataclass
class NodeConfig:
    """What ``dwm_cfg_get`` reports and the cfg/upd_rate commands change."""

    mode: str = "tag"  # tag | anchor
    initiator: bool = False
    uwb_mode: int = 2  # active
    active_ms: int = 100
    stationary_ms: int = 1000
    fw_version: tuple[int, int, int, int] = (1, 3, 0, 1)  # maj, min, patch, var
    writes: int = 0  # flash writes (they are slow and wear the module: counted)


class Dwm1001Node:
    """A module's UART: bytes in, bytes out, and a stream of lines while in the shell."""

    def __init__(
        self,
        walker: Walker,
        transform: Transform | None = None,
        garbage: float = 0.0,
        interleave: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.walker = walker
        self.transform = transform or Transform()
        self.config = NodeConfig()
        self.shell = False
        self.stream: str | None = None
        self.garbage = garbage
        self.interleave = interleave
        self.rng = random.Random(seed)
        self._cr = -10.0
        self._last_rx = 0.0
        self._line = b""
        self._tlv = bytearray()
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def reset(self) -> bytes:
        """A module reset: back to TLV mode, nothing streaming; the shell banner is not sent
        until the shell is entered again."""
        self.shell, self.stream = False, None
        self._tlv.clear()
        return b""

    def position(self) -> tuple[float, float, float]:
        x, y = self.walker.at(self.now())
        return self.transform.inverse(x, y, 1.0)

    # -- input ----------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        now = self.now()
        if self._tlv and now - self._last_rx > TLV_GAP_S:  # an incomplete frame times out
            self._tlv.clear()
        self._last_rx = now
        out = b""
        for b in data:
            out += self._shell_byte(b) if self.shell else self._tlv_byte(b)
        return out

    def _shell_byte(self, b: int) -> bytes:
        if b in (0x0D, 0x0A):
            cmd, self._line = self._line.decode("ascii", "replace").strip(), b""
            return self._command(cmd)
        self._line += bytes([b])
        return bytes([b])  # the shell echoes

    def _command(self, cmd: str) -> bytes:
        if not cmd:
            return b"\r\ndwm> "
        if cmd in LINES:
            self.stream = None if self.stream == cmd else cmd  # the same command stops it
            return b"\r\n"
        if cmd == "quit":
            self.shell, self.stream = False, None
            return b"\r\n"
        if cmd == "reset":
            return self.reset()
        if cmd == "si":
            return f"\r\n[000123.456 INF] mode: {self.config.mode}\r\ndwm> ".encode()
        return b"\r\ndwm> "

    def _tlv_byte(self, b: int) -> bytes:
        if b == 0x0D and not self._tlv:  # two CRs within a second enter the shell
            now = self.now()
            if now - self._cr < 1.0:
                self.shell, self._cr = True, -10.0
                return BANNER + b"dwm> "
            self._cr = now
            return b""
        self._tlv.append(b)
        if len(self._tlv) >= 2 and len(self._tlv) >= 2 + self._tlv[1]:
            frame, self._tlv = bytes(self._tlv[: 2 + self._tlv[1]]), self._tlv[2 + self._tlv[1] :]
            return self.answer(frame)
        return b""

    def answer(self, frame: bytes) -> bytes:
        t, value = frame[0], frame[2:]
        ok = bytes([tlv.T_STATUS, 1, 0])
        x, y, z = self.position()
        q = 90
        if t == 0x02:  # dwm_pos_get
            return ok + tlv.encode_pos(x, y, z, q)
        if t == 0x0C:  # dwm_loc_get
            ranges = [tlv.Range(0x022E, ((x**2 + y**2 + z**2) ** 0.5), 100)]
            return tlv.encode_loc((x, y, z, q), ranges)
        if t == 0x03 and len(value) == 4:  # dwm_upd_rate_set
            active, stationary = struct.unpack("<HH", value)
            if not 1 <= active <= stationary:
                return bytes([tlv.T_STATUS, 1, 3])
            self.config.active_ms, self.config.stationary_ms = active * 100, stationary * 100
            self.config.writes += 1
            return ok
        if t == 0x04:  # dwm_upd_rate_get
            c = self.config
            return (
                ok
                + bytes([tlv.T_UPD_RATE, 4])
                + struct.pack("<HH", c.active_ms // 100, c.stationary_ms // 100)
            )
        if t in (0x05, 0x07) and len(value) == 2:  # cfg_tag_set / cfg_anchor_set
            self.config.mode = "tag" if t == 0x05 else "anchor"
            self.config.initiator = t == 0x07 and bool(value[0] & 0x01)
            self.config.writes += 1
            return ok
        if t == 0x08:  # dwm_cfg_get: two bytes of flags, the second's bit 5 = anchor mode
            c = self.config
            b0 = c.uwb_mode & 0x03
            b1 = (0x20 if c.mode == "anchor" else 0) | (0x10 if c.initiator else 0)
            return ok + bytes([tlv.T_CFG, 2, b0, b1])
        if t == 0x15:  # dwm_ver_get
            maj, mi, patch, var = self.config.fw_version
            fw = bytes([tlv.T_VER_FW, 4, var, patch, mi, maj])
            cfg, hw = bytes([tlv.T_VER_CFG, 4, 0, 0, 0, 0]), bytes([tlv.T_VER_HW, 4, 0, 0, 0, 0xDE])
            return ok + fw + cfg + hw
        if t == 0x14:  # dwm_reset
            self.reset()
            return ok
        return bytes([tlv.T_STATUS, 1, 1])

    # -- output -------------------------------------------------------------------------

    def due_line(self) -> bytes:
        """The next line of the shell stream (with injected damage), or b"" if not streaming."""
        if not (self.shell and self.stream):
            return b""
        x, y, z = self.position()
        line = LINES[self.stream](x, y, z, 90)
        r = self.rng.random()
        if r < self.garbage:
            line = line[: self.rng.randint(1, len(line) - 1)] + "".join(
                self.rng.choice("0123456789,.AN") for _ in range(5)
            )
        elif r < self.garbage + self.interleave:
            other = LINES[self.stream](x + 1, y + 1, z, 80)
            cut = self.rng.randint(1, len(line) - 1)
            line = line[:cut] + other[cut // 2 :]  # two updates' characters mixed
        return (line + "\r\n").encode()


class PtyDevice:
    """Serves a node (or any byte stream) on a pseudo-terminal; the driver opens ``path``."""

    def __init__(
        self,
        node: Dwm1001Node | None = None,
        stream: Callable[[], bytes] | None = None,
        interval_s: float = 0.1,
        link: str | None = None,
    ) -> None:
        import tty

        self.node = node
        self.stream = stream
        self.interval_s = interval_s
        self.master, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.path = os.ttyname(self._slave_fd)
        self.link = link
        if link:
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(self.path, link)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-uwb", daemon=True)

    def start(self) -> PtyDevice:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self._slave_fd)
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)

    def _run(self) -> None:
        next_out = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select(
                [self.master], [], [], max(0.0, next_out - time.monotonic())
            )
            try:
                if ready:
                    data = os.read(self.master, 4096)
                    if self.node is not None and data:
                        reply = self.node.receive(data)
                        if reply:
                            os.write(self.master, reply)
                if time.monotonic() >= next_out:
                    next_out = time.monotonic() + self.interval_s
                    out = self.node.due_line() if self.node is not None else b""
                    if self.stream is not None:
                        out += self.stream()
                    if out:
                        os.write(self.master, out)
            except OSError:
                time.sleep(0.05)  # nobody has the port open yet: the pty's buffer is full


# -- LinkTrack, JSON --------------------------------------------------------------------------


def linktrack_stream(
    walkers: list[Walker], t0: float, junk: float = 0.0, seed: int = 3
) -> Callable[[], bytes]:
    """A callable giving one TagFrame0 per walker per call (tag id = trailing digits)."""
    rng = random.Random(seed)

    def frames() -> bytes:
        t = time.monotonic() - t0
        out = b""
        for w in walkers:
            x, y = w.at(t)
            tag_id = int("".join(c for c in w.tag if c.isdigit()) or 0) & 0xFF
            volts = 3.3 + 0.9 * w.battery(t) / 100
            if rng.random() < junk:
                out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
            out += linktrack.encode_tag_frame0(tag_id, (x, y, 1.0), volts, int(t * 1000))
        return out

    return frames


def run_scenario(
    walkers: list[Walker],
    seconds: float | None,
    json_port: int | None = None,
    shell_link: str | None = None,
    shell_format: str = "lep",
    linktrack_link: str | None = None,
    garbage: float = 0.0,
    interleave: float = 0.0,
    say: Callable[[str], None] = print,
) -> None:
    """Serve a scenario until ``seconds`` pass (or forever): the first walker on a DWM1001
    node's pty, all of them as LinkTrack frames on another, all as JSON over TCP."""
    running: list[PtyDevice | JsonTcpServer] = []
    try:
        if json_port is not None:
            running.append(JsonTcpServer(walkers, json_port).start())
            say(f"uwb sim: JSON positions of {len(walkers)} tags on tcp 127.0.0.1:{json_port}")
        if shell_link:
            node = Dwm1001Node(walkers[0], garbage=garbage, interleave=interleave)
            node.stream = None
            running.append(PtyDevice(node, link=shell_link).start())
            say(f"uwb sim: DWM1001 node for {walkers[0].tag} on {shell_link} ({shell_format})")
        if linktrack_link:
            stream = linktrack_stream(walkers, time.monotonic(), junk=garbage)
            running.append(PtyDevice(stream=stream, link=linktrack_link).start())
            say(f"uwb sim: LinkTrack TagFrame0 stream on {linktrack_link}")
        stop = threading.Event()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait(seconds)
    finally:
        for r in running:
            r.stop()


def json_message(w: Walker, t: float) -> dict[str, object]:
    x, y = w.at(t)
    return {
        "tagId": w.tag,
        "position": {"x": round(x, 3), "y": round(y, 3), "z": 1.0, "quality": 90},
        "battery": round(w.battery(t), 1),
        "sos": w.sos(t),
    }


class JsonTcpServer:
    """One JSON message per line to every client, for every walker, every ``interval_s``."""

    def __init__(self, walkers: list[Walker], port: int = 0, interval_s: float = 0.1) -> None:
        self.walkers = walkers
        self.interval_s = interval_s
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(4)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-uwb-json", daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> JsonTcpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()

    def _run(self) -> None:
        clients: list[socket.socket] = []
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self.server.accept()
                    clients.append(conn)
                except TimeoutError:
                    pass
                t = time.monotonic() - self.t0
                text = "".join(json.dumps(json_message(w, t)) + "\n" for w in self.walkers)
                for c in list(clients):
                    try:
                        c.sendall(text.encode())
                    except OSError:
                        clients.remove(c)
                        c.close()
                self._stop.wait(self.interval_s)
        finally:
            for c in clients:
                c.close()


def publish_mqtt(
    walkers: list[Walker],
    host: str,
    port: int,
    seconds: float,
    interval_s: float = 0.1,
    prefix: str = "dwm/node",
) -> int:
    """Publish the DWM1001 gateway's location messages for ``seconds``; returns the count."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    sent = 0
    t0 = time.monotonic()
    try:
        while (t := time.monotonic() - t0) < seconds:
            for w in walkers:
                x, y = w.at(t)
                payload = {
                    "position": {"x": x, "y": y, "z": 1.0, "quality": 90},
                    "superFrameNumber": sent,
                }
                client.publish(f"{prefix}/{w.tag}/uplink/location", json.dumps(payload))
                sent += 1
            time.sleep(interval_s)
    finally:
        client.loop_stop()
        client.disconnect()
    return sent


# -- scenarios on the demo plan ----------------------------------------------------------------

DEMO_ZONES = """
[[positioning]]
id = "site"
name = "Demo site"

[[positioning.zones]]
id = "reactor"
name = "Reactor hall"
type = "restricted"
polygon = [[0, 0], [20, 0], [20, 15], [0, 15]]
channels = ["tank1.h2s"]
max_people = 3

[[positioning.zones]]
id = "pit"
name = "Open pit"
type = "danger"
approach_m = 3
polygon = [[30, 0], [36, 0], [36, 6], [30, 6]]

[[positioning.zones]]
id = "gate"
name = "Muster point A"
type = "muster_point"
polygon = [[-20, -20], [-10, -20], [-10, -10], [-20, -10]]

[[positioning.people]]
tag = "t1"
name = "Li Wei"
role = "fitter"
zones = ["reactor"]

[[positioning.people]]
tag = "t2"
name = "Zhang San"
role = "operator"

[[positioning.people]]
tag = "t3"
name = "Wang Fang"
role = "safety"
zones = ["reactor", "pit"]
"""


def scenario(name: str) -> list[Walker]:
    """The walkers of one scenario (times in seconds from the start)."""
    if name == "unauthorised":  # Zhang San walks into the reactor hall
        return [Walker("t2", [(0, -5, 7), (10, 8, 7), (40, 8, 7), (50, -5, 7)])]
    if name == "loiter":  # standing on the reactor hall's fence, swaying
        return [Walker("t2", [(0, 20.1, 7)], jitter_m=0.3)]
    if name == "sos":
        return [Walker("t1", [(0, -5, 5), (8, 10, 5)], sos_at=(12.0, 14.0))]
    if name == "stopped":  # walks in, then no longer moves
        return [Walker("t1", [(0, -5, 5), (6, 10, 5)])]
    if name == "battery":
        return [
            Walker("t3", [(0, 25, 25), (60, 40, 25)], battery_start=30, battery_drain_per_s=0.5)
        ]
    if name == "demo":  # the demo site, all day: rounds, one unauthorised visit per 5 min
        return [
            Walker(
                "t1",
                [(0, -5, 5), (20, 10, 5), (80, 10, 8), (100, -5, 5)],
                period_s=120,
                jitter_m=0.05,
            ),
            Walker(
                "t2",
                [(0, 25, 20), (60, 25, 10), (90, 18, 8), (120, 18, 8), (150, 25, 20)],
                period_s=300,
                jitter_m=0.05,
            ),
            Walker(
                "t3",
                [(0, -15, -15), (30, 27, 3), (90, 27, 3), (120, -15, -15)],
                period_s=180,
                jitter_m=0.05,
                battery_start=60,
                battery_drain_per_s=0.005,
            ),
        ]
    if name == "muster":  # everyone walks to the muster point at t = 10 s
        return [
            Walker("t1", [(0, 10, 5), (10, 10, 5), (40, -15, -15)]),
            Walker("t2", [(0, 40, 20), (10, 40, 20), (60, -12, -12)]),
            Walker("t3", [(0, 5, 10), (60, 5, 10)]),  # stays inside: still in the reactor
        ]
    raise ValueError(f"unknown scenario {name!r}: one of {', '.join(SCENARIOS)}")


SCENARIOS = ("demo", "unauthorised", "loiter", "sos", "stopped", "battery", "muster")
