"""Health and metrics in the Prometheus text format, on a small HTTP server (loopback by
default): ``/metrics`` (this worker's counters, and per box lag and missing rows from the
database, which all workers share) and ``/health`` (200 when the broker and the database
answer, 503 otherwise)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import psycopg

from ingest.tracker import SeqState

if TYPE_CHECKING:
    from ingest.writer import Outcome


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: Counter[str] = Counter()  # by stream
        self.rows: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()  # by reason class
        self.replies = 0
        self.chain_breaks = 0
        self.groups = 0
        self.commit_s = 0.0
        self.started = time.time()

    def count(self, o: Outcome) -> None:
        with self.lock:
            if o.kind == "stored":
                self.batches[o.stream] += 1
                self.rows[o.stream] += o.rows
                self.chain_breaks += bool(o.chain_break)
            elif o.kind == "duplicate":
                self.duplicates[o.stream] += 1
            elif o.kind == "rejected":
                self.rejections[o.reason.split(":")[0][:40]] += 1
            elif o.kind == "reply":
                self.replies += 1

    def render(self) -> list[str]:
        out: list[str] = []

        def family(name: str, kind: str, helptext: str, samples: dict[str, float]) -> None:
            out.append(f"# HELP {name} {helptext}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples.items():
                out.append(f"{name}{labels} {value}")

        with self.lock:
            family(
                "ingest_batches_total",
                "counter",
                "Batches stored.",
                {f'{{stream="{s}"}}': n for s, n in self.batches.items()} or {"": 0},
            )
            family(
                "ingest_rows_total",
                "counter",
                "Rows stored (new rows only).",
                {f'{{stream="{s}"}}': n for s, n in self.rows.items()} or {"": 0},
            )
            family(
                "ingest_duplicates_total",
                "counter",
                "Batches that changed nothing.",
                {f'{{stream="{s}"}}': n for s, n in self.duplicates.items()} or {"": 0},
            )
            family(
                "ingest_rejections_total",
                "counter",
                "Envelopes rejected.",
                {f'{{reason="{_esc(r)}"}}': n for r, n in self.rejections.items()} or {"": 0},
            )
            family(
                "ingest_replies_total", "counter", "Command replies recorded.", {"": self.replies}
            )
            family(
                "ingest_chain_breaks_total",
                "counter",
                "Event hash chain breaks found.",
                {"": self.chain_breaks},
            )
            family(
                "ingest_commit_seconds_total",
                "counter",
                "Time spent in group commits.",
                {"": round(self.commit_s, 6)},
            )
            family(
                "ingest_groups_total", "counter", "Group transactions committed.", {"": self.groups}
            )
        return out


def box_lines(conn: psycopg.Connection) -> list[str]:
    """Per box and stream: seconds since the newest row's time, and rows missing in holes."""
    rows = conn.execute(
        "SELECT box_id, stream, extract(epoch FROM now() - last_ts), covered, ahead"
        " FROM stream_state ORDER BY box_id, stream"
    ).fetchall()
    lag = [
        "# HELP ingest_box_lag_seconds Age of the newest row received per box and stream.",
        "# TYPE ingest_box_lag_seconds gauge",
    ]
    miss = [
        "# HELP ingest_box_missing_rows Rows in holes not (yet) received.",
        "# TYPE ingest_box_missing_rows gauge",
    ]
    for box, stream, age, covered, ahead in rows:
        labels = f'{{box="{_esc(box)}",stream="{stream}"}}'
        if age is not None:
            lag.append(f"ingest_box_lag_seconds{labels} {float(age):.3f}")
        miss.append(
            f"ingest_box_missing_rows{labels} "
            f"{SeqState(covered, [tuple(x) for x in ahead]).missing()}"  # type: ignore[misc]
        )
    return lag + miss


class MetricsServer:
    def __init__(
        self,
        metrics: Metrics,
        dsn: str,
        healthy: Callable[[], tuple[bool, str]],
        host: str = "127.0.0.1",
        port: int = 9108,
    ) -> None:
        self.metrics = metrics
        self.dsn = dsn
        self.healthy = healthy
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/metrics":
                    code, body, ctype = 200, outer.scrape(), "text/plain; version=0.0.4"
                elif self.path == "/health":
                    ok, why = outer.healthy()
                    code, body, ctype = (200 if ok else 503), why + "\n", "text/plain"
                else:
                    code, body, ctype = 404, "not found\n", "text/plain"
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def scrape(self) -> str:
        lines = self.metrics.render()
        try:
            with psycopg.connect(self.dsn, connect_timeout=3) as conn:
                lines += box_lines(conn)
            lines.append("ingest_database_up 1")
        except psycopg.Error:
            lines.append("ingest_database_up 0")
        return "\n".join(lines) + "\n"

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
