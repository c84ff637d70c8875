"""Commands from upstream: a closed set, sealed with the downlink key, each with a sequence
number and a timestamp. Replays, stale or tampered commands are rejected and stored as events;
every accepted one is an audited event; each gets a sealed reply. No shell, no code execution.

Commands (payload ``{"seq", "ts", "cmd", "args", "who"}``):

- ``ack_alarm``      ``{"alarm": id, "note": str}``
- ``set_threshold``  ``{"channel": id, "level": name, "at": number}`` within
  ``sync.threshold_bounds``
- ``resend``         ``{"stream": "events"|"readings", "first": n, "last": m}``
- ``set_output``     ``{"relay": name, "active": true|false|null}`` for relays with
  ``remote = true``
"""

from __future__ import annotations

import json
import logging
import math
import threading
from typing import TYPE_CHECKING, Any, Protocol

from box.alarms.config import Outputs
from box.core.errors import CommandRefused
from box.core.levels import Level
from box.core.ports import Commands
from box.core.records import Event, now_ms
from box.sync.config import SyncSection
from box.sync.envelope import (
    CIPHER_NAMES,
    CipherId,
    EnvelopeError,
    Stream,
    key_id_bytes,
    open_envelope,
)
from box.sync.keyring import SyncKeyring
from box.sync.resend import ResendRefused

if TYPE_CHECKING:
    from box.sync.service import SyncService

log = logging.getLogger(__name__)

STATE_SEQ = "sync.downlink.seq"
STATE_NONCES = "sync.downlink.nonces"
NONCES_KEPT = 1024  # nonces of the last authenticated commands, checked against reuse


class CommandRejected(ValueError):
    """A command that is well sealed but not acceptable; the reason goes back upstream.

    ``code`` is the machine-readable reason of the reply (docs/MQTT.md lists them all)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DownlinkConfig(Protocol):
    @property
    def sync(self) -> SyncSection: ...
    @property
    def outputs(self) -> Outputs: ...


class DownlinkBox(Commands, Protocol):
    """What the downlink needs of the box (its facade): commands, config, event and state."""

    @property
    def box_id(self) -> str: ...
    @property
    def config(self) -> DownlinkConfig: ...
    def submit_event(self, event: Event) -> None: ...
    def set_state(self, key: str, value: str | None) -> None: ...


class Downlink:
    def __init__(self, box: DownlinkBox, keyring: SyncKeyring) -> None:
        self.box = box
        self.keyring = keyring
        self.service: SyncService | None = None  # see attach()
        self.last_seq = 0
        self.nonces: list[str] = []  # hex, oldest first
        self._lock = threading.Lock()  # paho calls from its thread; tests may call directly

    def attach(self, service: SyncService) -> None:
        """Use ``service`` for replies; resume the replay guards from the state it loaded."""
        self.service = service
        self.last_seq = int(service.saved_state.get(STATE_SEQ, 0))
        saved = service.saved_state.get(STATE_NONCES)
        self.nonces = json.loads(saved) if saved else []

    def handle(self, data: bytes) -> None:
        """Called from the MQTT thread with a raw envelope from the downlink topic."""
        with self._lock:
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        cfg = self.box.config.sync
        seq: int | None = None
        try:
            key = self.keyring.downlink()
            header, plain = open_envelope(data, {key_id_bytes(key): key})
            if header.stream != Stream.COMMAND or header.box_id != self.box.box_id:
                raise EnvelopeError("not a command for this box")
        except EnvelopeError as exc:  # not authenticated: nobody to answer
            self._rejected(None, "envelope", str(exc))
            return
        # Authenticated from here on: every rejection is answered, under the header's seq.
        seq = header.first_seq
        try:
            pinned = CIPHER_NAMES[cfg.cipher]
            if header.cipher != pinned:
                raise CommandRejected(
                    "cipher",
                    f"sealed with {_cipher_name(header.cipher)};"
                    f" this box accepts only {cfg.cipher}",
                )
            if seq <= self.last_seq:
                raise CommandRejected(
                    "replayed", f"replayed command: seq {seq} <= last accepted {self.last_seq}"
                )
            nonce = header.nonce.hex()
            if nonce in self.nonces:
                raise CommandRejected(
                    "nonce_reused",
                    "nonce used by an earlier command: every command needs a new one",
                )
            self._remember(nonce)
            cmd = _parse(plain)
            body_seq = cmd.get("seq")
            if type(body_seq) is not int or body_seq != seq or header.last_seq != seq:
                raise CommandRejected("seq", "'seq' missing or differs from the header")
            if not cfg.downlink:
                raise CommandRejected("disabled", "downlink commands are disabled on this box")
            if self.service is not None and self.service.closing:
                raise CommandRejected("stopping", "the box is stopping: send it again later")
            ts = cmd.get("ts")
            if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
                raise CommandRejected("ts", "'ts' must be a number of milliseconds since 1970 UTC")
            if abs(now_ms() - ts) > cfg.command_max_skew_s * 1000:
                raise CommandRejected("stale", "stale command: timestamp outside the allowed skew")
            result = self._execute(cmd)
        except CommandRefused as exc:
            self._rejected(seq, "refused", str(exc))
            return
        except CommandRejected as exc:
            self._rejected(seq, exc.code, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must still be answered, never silent
            log.exception("downlink command %s failed", seq)
            self._rejected(seq, "error", f"{type(exc).__name__}: {exc}")
            return
        self.last_seq = seq
        self.box.set_state(STATE_SEQ, str(seq))
        self._event(
            "downlink_command",
            Level.INFO,
            seq=seq,
            cmd=cmd["cmd"],
            args=cmd.get("args"),
            who=str(cmd.get("who", "upstream"))[:64],
        )
        self._reply(seq, True, "ok", "", result)

    def _remember(self, nonce: str) -> None:
        self.nonces.append(nonce)
        del self.nonces[:-NONCES_KEPT]
        self.box.set_state(STATE_NONCES, json.dumps(self.nonces))

    def _rejected(self, seq: int | None, code: str, reason: str) -> None:
        log.warning("downlink command rejected (%s): %s", code, reason)
        self._event("downlink_rejected", Level.LEVEL_3, seq=seq, code=code, reason=reason)
        if seq is not None:
            self._reply(seq, False, code, reason)

    def _execute(self, cmd: dict[str, Any]) -> Any:
        name, args = cmd.get("cmd"), cmd.get("args")
        who = f"upstream:{str(cmd.get('who', 'platform'))[:64]}"
        if not isinstance(args, dict):
            raise CommandRejected("args", "'args' must be an object")
        if name == "ack_alarm":
            alarm, note = _str(args, "alarm"), str(args.get("note", ""))[:500]
            return self.box.ack(alarm, who, note)
        if name == "set_threshold":
            channel, level, at = _str(args, "channel"), _str(args, "level"), args.get("at")
            if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
                raise CommandRejected("args", "'at' must be a number")
            bounds = self.box.config.sync.threshold_bounds.get(channel, {}).get(level)
            if bounds is None:
                raise CommandRejected(
                    "not_allowed", f"{channel}:{level} may not be changed from upstream"
                )
            if not bounds[0] <= at <= bounds[1]:
                raise CommandRejected(
                    "out_of_range", f"{at} is outside the allowed range {list(bounds)}"
                )
            return self.box.set_threshold(channel, level, float(at), who)
        if name == "resend":
            stream, first, last = _str(args, "stream"), args.get("first"), args.get("last")
            if stream not in ("events", "readings"):
                raise CommandRejected("args", "'stream' must be events or readings")
            if not (isinstance(first, int) and isinstance(last, int) and 0 < first <= last):
                raise CommandRejected(
                    "args", "'first' and 'last' must be integers with 0 < first <= last"
                )
            if self.service is None:  # not attached yet: nothing to resend from
                raise CommandRejected("not_ready", "resend is not available before sync starts")
            try:
                return self.service.request_resend(stream, first, last)
            except ResendRefused as exc:
                raise CommandRejected("busy", str(exc)) from None
        if name == "set_output":
            relay, active = _str(args, "relay"), args.get("active")
            allowed = {r.name for r in self.box.config.outputs.relays if r.remote}
            if relay not in allowed:
                raise CommandRejected(
                    "not_allowed", f"relay {relay!r} may not be switched from upstream"
                )
            if active is not None and not isinstance(active, bool):
                raise CommandRejected("args", "'active' must be true, false or null")
            self.box.set_output(relay, active, who)
            return {"relay": relay, "active": active}
        raise CommandRejected("unknown_command", f"unknown command {name!r}")

    def _event(self, kind: str, level: int, **details: Any) -> None:
        self.box.submit_event(Event(kind, "upstream", now_ms(), level, details))

    def _reply(self, seq: int, accepted: bool, code: str, reason: str, result: Any = None) -> None:
        if self.service is None:
            return
        body = {
            "v": 1,
            "box": self.box.box_id,
            "stream": "reply",
            "first": seq,
            "last": seq,
            "seq": seq,
            "accepted": accepted,
            "code": code,
            "reason": reason,
            "result": result,
            "ts": now_ms(),
        }
        env = self.service.seal_batch(
            Stream.REPLY, seq, seq, json.dumps(body, default=str).encode()
        )
        self.service.transport.publish(f"{self.service.transport.topics['up']}/reply", env)


def _parse(plain: bytes) -> dict[str, Any]:
    try:
        cmd = json.loads(plain)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandRejected("json", f"command is not UTF-8 JSON: {exc}") from None
    if not isinstance(cmd, dict):
        raise CommandRejected("json", f"command must be a JSON object, not {type(cmd).__name__}")
    return cmd


def _cipher_name(cipher: CipherId) -> str:
    return next((n for n, c in CIPHER_NAMES.items() if c == cipher), str(cipher))


def _str(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise CommandRejected("args", f"'{key}' must be a non-empty string")
    return value
