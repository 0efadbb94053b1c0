"""Prometheus metrics and a /healthz endpoint, on an optional HTTP listener.

Off by default; `[metrics] listen = "127.0.0.1:9464"` turns it on. The listener runs in a
daemon thread (prometheus-client's own server); the loop only updates numbers.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest


class Metrics:
    def __init__(self, stale_after: float) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_seen = Counter("askfirst_messages_seen", "Mails read from IMAP", registry=r)
        self.invitations = Gauge(
            "askfirst_invitations", "Invitations by state", ["account", "state"], registry=r
        )
        self.mails_sent = Counter("askfirst_mails_sent", "Mails sent", ["kind"], registry=r)
        self.mails_failed = Counter(
            "askfirst_mails_failed", "Mails that failed for good", ["kind"], registry=r
        )
        self.imap_reconnects = Counter(
            "askfirst_imap_reconnects", "IMAP connections lost", registry=r
        )
        self.sweep_seconds = Gauge(
            "askfirst_sweep_duration_seconds", "Duration of the last deadline sweep", registry=r
        )
        self.held = Gauge("askfirst_sending_held", "1 while a brake holds sending", registry=r)
        since = Gauge(
            "askfirst_seconds_since_last_poll", "Seconds since the last completed pass", registry=r
        )
        since.set_function(self.seconds_since_pass)
        self._last_pass: float | None = None
        self.imap_connected = False
        self.serving = False  # set by `serve`: gauges that cost a query are kept only then
        self._stale_after = stale_after

    def pass_completed(self) -> None:
        self._last_pass = time.monotonic()
        self.imap_connected = True

    def seconds_since_pass(self) -> float:
        return time.monotonic() - self._last_pass if self._last_pass is not None else float("inf")

    def healthy(self) -> tuple[bool, str]:
        age = self.seconds_since_pass()
        if age > self._stale_after:
            return False, f"no completed pass for {age:.0f} s"
        if not self.imap_connected:
            return False, "IMAP not connected"
        return True, f"last pass {age:.0f} s ago"

    def serve(self, listen: str) -> ThreadingHTTPServer:
        """Start the listener ("host:port"); returns the server (its port, for tests)."""
        host, _, port = listen.rpartition(":")
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
                elif self.path == "/healthz":
                    ok, why = metrics.healthy()
                    self._reply(200 if ok else 503, "text/plain", why.encode() + b"\n")
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, code: int, kind: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds would drown the log

        self.serving = True
        server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server
