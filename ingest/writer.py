"""Verified batches into PostgreSQL, idempotently, many messages per transaction.

Per message: decode and verify (contract.py) outside any transaction; then, in one transaction
for the whole group (one savepoint each): lock the box's stream state row, classify the batch
(tracker.py), insert its rows with ``ON CONFLICT DO NOTHING`` on (box, seq, time), record the
gap the box named, check the event chain, advance the state. The MQTT acknowledgement goes out
only after the commit, so a worker killed at any point leaves nothing half-written and the
broker delivers again what it had not acknowledged.

Groups are applied in (box, stream) order, so two workers locking state rows never wait on each
other in a cycle.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ingest import contract
from ingest.metrics import Metrics
from ingest.partitions import Partitions, in_range, month_of
from ingest.registry import KeyCache
from ingest.tracker import SeqState

log = logging.getLogger(__name__)

RETRIES = 5


@dataclass
class Message:
    topic: str
    payload: bytes
    token: Any = None  # what the transport needs to acknowledge it


@dataclass
class Outcome:
    kind: str  # stored / duplicate / rejected / reply / status
    box_id: str | None
    stream: str = ""
    rows: int = 0
    reason: str = ""
    chain_break: str = ""


class Ingestor:
    def __init__(self, dsn: str, prefix: str = "safetybox", metrics: Metrics | None = None):
        self.dsn = dsn
        self.prefix = prefix
        self.metrics = metrics or Metrics()
        self.keys = KeyCache(dsn)
        self.partitions = Partitions(dsn)
        self.conn = psycopg.connect(dsn)

    def close(self) -> None:
        self.keys.close()
        self.conn.close()

    def reconnect(self) -> None:
        """After a database error: a fresh connection (the old one may be broken)."""
        try:
            self.conn.close()
            self.keys.close()
            self.conn = psycopg.connect(self.dsn)
        except psycopg.Error as exc:
            log.error("ingest: database unreachable: %s", exc)

    # -- decoding (no transaction) -------------------------------------------------------------

    def _topic_box(self, topic: str) -> str | None:
        parts = topic.split("/")
        pre = self.prefix.split("/")
        if parts[: len(pre)] != pre or len(parts) < len(pre) + 2:
            return None
        return parts[len(pre)]

    def _decode(self, msg: Message) -> contract.Batch | Outcome:
        box = self._topic_box(msg.topic)
        try:
            header = contract.peek(msg.payload)
            box = header.box_id
            keys = self.keys.keys_for(header.box_id, header.key_id)
            if keys is None:
                return Outcome("rejected", box, reason=f"box {header.box_id} is not registered")
            if header.key_id not in keys:
                return Outcome(
                    "rejected",
                    box,
                    reason=f"key {header.key_id.hex()} is unknown or past its grace period",
                )
            batch = contract.decode(msg.payload, keys)
        except (contract.EnvelopeError, contract.ContractError) as exc:
            return Outcome("rejected", box, reason=str(exc))
        except (RecursionError, ValueError, TypeError, KeyError, IndexError) as exc:
            # Nothing a sender puts in a message may stop the worker (e.g. JSON nested too deep).
            return Outcome("rejected", box, reason=f"unreadable payload: {exc!r}"[:300])
        if self._topic_box(msg.topic) != batch.box_id:
            return Outcome("rejected", box, reason=f"topic {msg.topic} is not box {batch.box_id}'s")
        bad = [t for t in batch.timestamps() if not in_range(t)]
        if bad:
            return Outcome("rejected", box, reason=f"row time {bad[0]} ms is out of range")
        return batch

    # -- the group transaction -----------------------------------------------------------------

    def handle(self, messages: list[Message]) -> list[Outcome]:
        """Apply messages; returns one outcome per message, in order. Committed on return."""
        outcomes: list[Outcome | None] = [None] * len(messages)
        work: list[tuple[int, contract.Batch]] = []
        statuses: list[tuple[int, str, Any]] = []
        for i, msg in enumerate(messages):
            if msg.topic.endswith("/status"):
                box = self._topic_box(msg.topic)
                try:
                    statuses.append((i, box or "", json.loads(msg.payload)))
                except ValueError:
                    outcomes[i] = Outcome("status", box, reason="status is not JSON: ignored")
                continue
            res = self._decode(msg)
            if isinstance(res, Outcome):
                outcomes[i] = res
            else:
                work.append((i, res))
        months = {month_of(t) for _, b in work for t in b.timestamps()}
        self.partitions.ensure(months)
        work.sort(key=lambda ib: (ib[1].box_id, ib[1].stream, ib[1].first))
        careful = False  # savepoints per message only after a value PostgreSQL refused
        for attempt in range(RETRIES):
            try:
                done = self._apply_all(messages, outcomes, work, statuses, careful)
                break
            except (pgerrors.DeadlockDetected, pgerrors.SerializationFailure) as exc:
                log.warning("ingest: %s; retrying the group (%d)", exc, attempt + 1)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the database is away: the worker retries, nothing acknowledged
            except Exception:
                if careful:
                    raise
                careful = True  # one message is at fault: find it, one savepoint each
        else:
            raise RuntimeError("ingest: the group kept failing on lock conflicts")
        for o in done:
            self.metrics.count(o)
        return done

    def _apply_all(
        self,
        messages: list[Message],
        outcomes: list[Outcome | None],
        work: list[tuple[int, contract.Batch]],
        statuses: list[tuple[int, str, Any]],
        careful: bool,
    ) -> list[Outcome]:
        result = list(outcomes)
        with self.conn.transaction():
            for i, batch in work:
                if not careful:
                    result[i] = self._apply(batch)
                    continue
                try:
                    with self.conn.transaction():
                        result[i] = self._apply(batch)
                except (pgerrors.DeadlockDetected, pgerrors.SerializationFailure):
                    raise
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    raise
                except psycopg.Error as exc:  # a value PostgreSQL refuses: that batch only
                    result[i] = Outcome("rejected", batch.box_id, reason=f"database: {exc}")
                except Exception as exc:  # noqa: BLE001 - never a poison message that stalls
                    log.exception("ingest: batch of %s could not be applied", batch.box_id)
                    result[i] = Outcome(
                        "rejected", batch.box_id, reason=f"internal error: {exc!r}"[:300]
                    )
            for i, box, status in statuses:
                self.conn.execute(
                    "UPDATE boxes SET status = %s, status_at = now() WHERE box_id = %s",
                    (json.dumps(status), box),
                )
                result[i] = Outcome("status", box)
            for i, o in enumerate(result):
                if o is not None and o.kind == "rejected":
                    self._reject(messages[i], o)
        return [o for o in result if o is not None]

    def _reject(self, msg: Message, o: Outcome) -> None:
        self.conn.execute(
            "INSERT INTO rejections (box_id, topic, reason, envelope_sha256, size)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (o.box_id, msg.topic, o.reason, hashlib.sha256(msg.payload).digest(), len(msg.payload)),
        )

    def _apply(self, b: contract.Batch) -> Outcome:
        c = self.conn
        if b.stream == "reply":
            return self._reply(b)
        # One round trip: create the state row if new, lock it and read it.
        row = c.execute(
            "INSERT INTO stream_state AS s (box_id, stream) VALUES (%s, %s)"
            " ON CONFLICT (box_id, stream) DO UPDATE SET covered = s.covered"
            " RETURNING covered, ahead",
            (b.box_id, b.stream),
        ).fetchone()
        assert row is not None  # noqa: S101 - RETURNING always gives the row
        st = SeqState(row[0], [tuple(x) for x in row[1]])  # type: ignore[misc]
        if st.is_duplicate(b.first, b.last):
            c.execute(
                "UPDATE stream_state SET duplicates = duplicates + 1, last_at = now()"
                " WHERE box_id = %s AND stream = %s",
                (b.box_id, b.stream),
            )
            return Outcome("duplicate", b.box_id, b.stream)
        lost = st.not_received(*b.evicted[:2]) if b.evicted is not None else []
        st.add(b.first, b.last)  # evicted seqs too: they will not come, the gap row says so
        for f, t in lost:
            c.execute(
                "INSERT INTO gaps (box_id, stream, from_seq, to_seq, count, reason)"
                " VALUES (%s, %s, %s, %s, %s, 'evicted') ON CONFLICT DO NOTHING",
                (b.box_id, b.stream, f, t, t - f + 1),
            )
        broken = self._check_chain(b) if b.events else None  # before its own rows go in
        stamps = b.timestamps()
        # One round trip: the rows' inserts as data-modifying CTEs, the state update counting
        # what they inserted (ON CONFLICT DO NOTHING returns only new rows).
        inserts = self._row_inserts(b)
        names = [sql.Identifier(f"ins{i}") for i in range(len(inserts))]
        new_rows = (
            sql.SQL(" + ").join(sql.SQL("(SELECT count(*) FROM {})").format(n) for n in names)
            if inserts
            else sql.SQL("0")
        )
        ctes = sql.SQL(", ").join(
            sql.SQL("{} AS ({})").format(n, q) for n, (q, _) in zip(names, inserts, strict=True)
        )
        params: list[Any] = [p for _, ps in inserts for p in ps]
        update = sql.SQL(
            "UPDATE stream_state SET covered = %s, ahead = %s, batches = batches + 1,"
            " holes_since = CASE WHEN %s THEN coalesce(holes_since, now()) END,"
            " rows = rows + {new}, last_at = now(),"
            " last_ts = greatest(last_ts, to_timestamp(%s::bigint / 1000.0))"
            " WHERE box_id = %s AND stream = %s RETURNING {new}"
        ).format(new=new_rows)
        query = sql.SQL("WITH {} {}").format(ctes, update) if inserts else update
        params += [
            st.covered,
            json.dumps(st.ahead),
            bool(st.ahead),
            max(stamps) if stamps else None,
            b.box_id,
            b.stream,
        ]
        done = c.execute(query, params).fetchone()
        inserted = int(done[0]) if done else 0
        return Outcome("stored", b.box_id, b.stream, inserted, chain_break=broken or "")

    def _row_inserts(self, b: contract.Batch) -> list[tuple[sql.SQL, list[Any]]]:
        """The batch's inserts (each ``RETURNING 1`` for its new rows) with their parameters."""
        out: list[tuple[sql.SQL, list[Any]]] = []
        if b.readings:
            s, ch, t, v, q = zip(*b.readings, strict=True)
            out.append(
                (
                    sql.SQL(
                        "INSERT INTO readings (box_id, seq, ts, channel, value, quality,"
                        " historical) SELECT %s, s, to_timestamp(t / 1000.0), ch, v, q, %s"
                        " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::float8[],"
                        " %s::text[]) AS u(s, t, ch, v, q) ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    [b.box_id, b.historical, list(s), list(t), list(ch), list(v), list(q)],
                )
            )
        if b.aggregates:
            cols = list(zip(*b.aggregates, strict=True))
            out.append(
                (
                    sql.SQL(
                        "INSERT INTO aggregates (box_id, batch_last, channel, from_ts, to_ts, min,"
                        " max, mean, last, count, historical)"
                        " SELECT %s, %s, ch, to_timestamp(f / 1000.0), to_timestamp(t / 1000.0),"
                        " mn, mx, me, la, n, %s"
                        " FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::float8[],"
                        " %s::float8[], %s::float8[], %s::float8[], %s::bigint[])"
                        " AS u(ch, f, t, mn, mx, me, la, n) ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    [b.box_id, b.last, b.historical, *[list(x) for x in cols]],
                )
            )
        if b.events:
            ev = b.events
            out.append(
                (
                    sql.SQL(
                        "INSERT INTO events (box_id, seq, ts, kind, level, source, details,"
                        " prev_hash, hash, hash_v, historical)"
                        " SELECT %s, s, to_timestamp(t / 1000.0), k, l, so, d, p, h, hv, %s"
                        " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::smallint[],"
                        " %s::text[], %s::jsonb[], %s::text[], %s::text[], %s::smallint[])"
                        " AS u(s, t, k, l, so, d, p, h, hv) ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    [
                        b.box_id,
                        b.historical,
                        [e["seq"] for e in ev],
                        [e["ts"] for e in ev],
                        [e["kind"] for e in ev],
                        [e["level"] for e in ev],
                        [e["source"] for e in ev],
                        [json.dumps(e["details"]) for e in ev],
                        [e["prev_hash"] for e in ev],
                        [e["hash"] for e in ev],
                        [e["hash_v"] for e in ev],
                    ],
                )
            )
        if b.records:
            s, k, t, key, d = zip(*b.records, strict=True)
            out.append(
                (
                    sql.SQL(
                        "INSERT INTO records (box_id, seq, ts, type, key, data)"
                        " SELECT %s, s, to_timestamp(t / 1000.0), k, ky, d"
                        " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[],"
                        " %s::jsonb[]) AS u(s, k, t, ky, d) ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    [b.box_id, list(s), list(k), list(t), list(key), [json.dumps(x) for x in d]],
                )
            )
        return out

    def _check_chain(self, b: contract.Batch) -> str | None:
        """The events' own hashes, and the links to the stored events on either side."""
        c = self.conn
        ev = sorted(b.events, key=lambda e: e["seq"])
        before = c.execute(
            "SELECT seq, hash FROM events WHERE box_id = %s AND seq = %s",
            (b.box_id, ev[0]["seq"] - 1),
        ).fetchone()
        problem = contract.check_chain(ev, (before[0], before[1]) if before else None)
        bad_seq = ev[0]["seq"]
        if problem is None:
            after = c.execute(
                "SELECT prev_hash FROM events WHERE box_id = %s AND seq = %s",
                (b.box_id, ev[-1]["seq"] + 1),
            ).fetchone()
            if after is not None and after[0] != ev[-1]["hash"]:
                problem = f"event {ev[-1]['seq'] + 1}: prev_hash does not match the stored chain"
                bad_seq = ev[-1]["seq"] + 1
        else:
            bad_seq = int(problem.split(":")[0].split()[-1]) if problem.startswith("event ") else 1
        if problem is not None:
            log.error("ingest: box %s: event chain broken: %s", b.box_id, problem)
            c.execute(
                "INSERT INTO chain_breaks (box_id, seq, reason) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (b.box_id, bad_seq, problem),
            )
        return problem

    def _reply(self, b: contract.Batch) -> Outcome:
        r = b.reply or {}
        cur = self.conn.execute(
            "UPDATE commands SET accepted = %s, code = %s, reason = %s, result = %s,"
            " replied_at = now() WHERE box_id = %s AND seq = %s AND replied_at IS NULL",
            (
                bool(r.get("accepted")),
                str(r["code"]) if r.get("code") is not None else None,
                str(r.get("reason", "")),
                json.dumps(r.get("result")),
                b.box_id,
                b.first,
            ),
        )
        if cur.rowcount == 0:
            known = self.conn.execute(
                "SELECT 1 FROM commands WHERE box_id = %s AND seq = %s", (b.box_id, b.first)
            ).fetchone()
            if known is None:
                return Outcome(
                    "rejected", b.box_id, "reply", reason=f"reply to unknown command {b.first}"
                )
            return Outcome("duplicate", b.box_id, "reply")
        return Outcome("reply", b.box_id, "reply")
