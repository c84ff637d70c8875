"""Sealed downlink commands. The per-box command sequence lives in the database (``boxes.
command_seq``), incremented in the same transaction that records the command, so any number
of platform processes can command a box without two commands sharing a number (the box accepts
only numbers above the last it accepted). The box's reply arrives on ``up/reply``; a worker
records it on the command's row."""

from __future__ import annotations

import json
import time
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ingest import contract
from ingest.brokers import BrokerAddress


class CommandError(RuntimeError):
    pass


def record(
    conn: psycopg.Connection, box_id: str, cmd: str, args: dict[str, Any], who: str
) -> tuple[int, bytes]:
    """Allocate the next sequence number, record the command and seal it."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE boxes SET command_seq = command_seq + 1 WHERE box_id = %s"
            " RETURNING command_seq, cipher, downlink_key",
            (box_id,),
        ).fetchone()
        if row is None:
            raise CommandError(f"box {box_id} is not registered (safetybox-ingest keys import)")
        seq, cipher, key = int(row[0]), str(row[1]), bytes(row[2])
        conn.execute(
            "INSERT INTO commands (box_id, seq, cmd, args, who) VALUES (%s, %s, %s, %s, %s)",
            (box_id, seq, cmd, json.dumps(args), who),
        )
    return seq, contract.seal_command(box_id, cipher, key, seq, cmd, args, who)


def publish(broker: BrokerAddress, topic: str, data: bytes, timeout: float = 10.0) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    broker.apply(client)
    try:
        client.connect(broker.host, broker.port, 30)
    except OSError as exc:
        raise CommandError(f"cannot reach broker {broker.host}:{broker.port}: {exc}") from None
    client.loop_start()
    try:
        info = client.publish(topic, data, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise CommandError("the broker did not acknowledge the command")
    finally:
        client.disconnect()
        client.loop_stop()


def send(
    dsn: str,
    broker: BrokerAddress,
    box_id: str,
    cmd: str,
    args: dict[str, Any],
    who: str,
    wait_s: float = 0.0,
) -> dict[str, Any]:
    """Record, seal and publish a command; with ``wait_s``, wait that long for the reply."""
    with psycopg.connect(dsn) as conn:
        seq, data = record(conn, box_id, cmd, args, who)
        publish(broker, contract.down_topic(broker.prefix, box_id), data)
        conn.execute(
            "UPDATE commands SET published = true WHERE box_id = %s AND seq = %s", (box_id, seq)
        )
        conn.commit()
        out: dict[str, Any] = {
            "box": box_id,
            "seq": seq,
            "cmd": cmd,
            "args": args,
            "replied": False,
        }
        deadline = time.monotonic() + wait_s
        while wait_s > 0:
            row = conn.execute(
                "SELECT accepted, code, reason, result FROM commands"
                " WHERE box_id = %s AND seq = %s"
                " AND replied_at IS NOT NULL",
                (box_id, seq),
            ).fetchone()
            conn.commit()
            if row is not None:
                out.update(replied=True, accepted=row[0], code=row[1], reason=row[2], result=row[3])
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return out
