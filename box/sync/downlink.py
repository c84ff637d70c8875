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
import time
from typing import TYPE_CHECKING, Any, Protocol

from box.alarms.config import Outputs
from box.core.errors import CommandRefused
from box.core.levels import Level
from box.core.ports import Commands
from box.core.records import Event, now_ms
from box.sync.config import SyncSection
from box.sync.envelope import EnvelopeError, Stream, key_id_bytes, open_envelope
from box.sync.keyring import SyncKeyring

if TYPE_CHECKING:
    from box.sync.service import SyncService

log = logging.getLogger(__name__)

STATE_SEQ = "sync.downlink.seq"


class CommandRejected(ValueError):
    """A command that is well sealed but not acceptable; the reason goes back upstream."""


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

    def attach(self, service: SyncService) -> None:
        """Use ``service`` for replies; resume the replay guard from the state it loaded."""
        self.service = service
        self.last_seq = int(service.saved_state.get(STATE_SEQ, 0))

    def handle(self, data: bytes) -> None:
        """Called from the MQTT thread with a raw envelope from the downlink topic."""
        cfg = self.box.config.sync
        seq = None
        try:
            key = self.keyring.downlink()
            header, plain = open_envelope(data, {key_id_bytes(key): key})
            if header.stream != Stream.COMMAND or header.box_id != self.box.box_id:
                raise EnvelopeError("not a command for this box")
            try:
                cmd = json.loads(plain)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise CommandRejected(f"the command is not valid JSON: {exc}") from None
            if not isinstance(cmd, dict):
                raise CommandRejected("a command must be a JSON object")
            seq = cmd.get("seq")
            if not isinstance(seq, int) or seq != header.first_seq:
                raise CommandRejected("sequence number missing or differs from the header")
            if not cfg.downlink:
                raise CommandRejected("downlink commands are disabled on this box")
            if seq <= self.last_seq:
                raise CommandRejected(
                    f"replayed command: seq {seq} <= last accepted {self.last_seq}"
                )
            ts = cmd.get("ts")
            if not isinstance(ts, int) or abs(now_ms() - ts) > cfg.command_max_skew_s * 1000:
                raise CommandRejected("stale command: timestamp outside the allowed skew")
            result = self._execute(cmd)
        except (EnvelopeError, ValueError, CommandRefused) as exc:
            reason = str(exc)
            log.warning("downlink command rejected: %s", reason)
            self._event("downlink_rejected", Level.LEVEL_3, seq=seq, reason=reason)
            if seq is not None and isinstance(exc, CommandRejected | CommandRefused):
                self._reply(seq, False, reason)
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
        self._reply(seq, True, "", result)

    def _execute(self, cmd: dict[str, Any]) -> Any:
        name, args = cmd.get("cmd"), cmd.get("args")
        who = f"upstream:{str(cmd.get('who', 'platform'))[:64]}"
        if not isinstance(args, dict):
            raise CommandRejected("'args' must be an object")
        if name == "ack_alarm":
            alarm, note = _str(args, "alarm"), str(args.get("note", ""))[:500]
            return self.box.ack(alarm, who, note)
        if name == "set_threshold":
            channel, level, at = _str(args, "channel"), _str(args, "level"), args.get("at")
            if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
                raise CommandRejected("'at' must be a number")
            bounds = self.box.config.sync.threshold_bounds.get(channel, {}).get(level)
            if bounds is None:
                raise CommandRejected(f"{channel}:{level} may not be changed from upstream")
            if not bounds[0] <= at <= bounds[1]:
                raise CommandRejected(f"{at} is outside the allowed range {list(bounds)}")
            return self.box.set_threshold(channel, level, float(at), who)
        if name == "resend":
            stream, first, last = _str(args, "stream"), args.get("first"), args.get("last")
            if stream not in ("events", "readings"):
                raise CommandRejected("'stream' must be events or readings")
            if not (isinstance(first, int) and isinstance(last, int) and 0 < first <= last):
                raise CommandRejected("'first' and 'last' must be integers with 0 < first <= last")
            if self.service is None:  # not attached yet: nothing to resend from
                raise CommandRejected("resend is not available before sync starts")
            self.service.request_resend(stream, first, last)
            return {"stream": stream, "first": first, "last": last}
        if name == "set_output":
            relay, active = _str(args, "relay"), args.get("active")
            allowed = {r.name for r in self.box.config.outputs.relays if r.remote}
            if relay not in allowed:
                raise CommandRejected(f"relay {relay!r} may not be switched from upstream")
            if active is not None and not isinstance(active, bool):
                raise CommandRejected("'active' must be true, false or null")
            self.box.set_output(relay, active, who)
            return {"relay": relay, "active": active}
        raise CommandRejected(f"unknown command {name!r}")

    def _event(self, kind: str, level: int, **details: Any) -> None:
        self.box.submit_event(Event(kind, "upstream", now_ms(), level, details))

    def _reply(self, seq: int, accepted: bool, reason: str, result: Any = None) -> None:
        if self.service is None:
            return
        body = {
            "first": seq,
            "last": seq,
            "seq": seq,
            "accepted": accepted,
            "reason": reason,
            "result": result,
            "ts": int(time.time() * 1000),
        }
        env = self.service.seal_batch(
            Stream.REPLY, seq, seq, json.dumps(body, default=str).encode()
        )
        self.service.transport.publish(f"{self.service.transport.topics['up']}/reply", env)


def _str(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise CommandRejected(f"'{key}' must be a non-empty string")
    return value
