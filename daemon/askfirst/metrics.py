"""Prometheus metrics and a /healthz endpoint, on an optional HTTP listener.

Off by default; `[metrics] listen = "127.0.0.1:9464"` (or `"[::1]:9464"`) turns it on. The
listener runs in a daemon thread; the loop only updates numbers. It is bounded: at most
`MAX_CLIENTS` connections are served at once (more are closed at once), a client that does
not send its request within `CLIENT_TIMEOUT` is dropped, and a client's misbehaviour is one
log line, never a traceback.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler
from threading import Thread
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

from askfirst import logs
from askfirst.hosts import split_listen

MAX_CLIENTS = 8  # connections served at once (each is one thread)
CLIENT_TIMEOUT = 5.0  # seconds a client may take to send its request or read the answer
FAILED_PASSES_UNHEALTHY = 3  # passes failing in a row make the daemon unhealthy


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
        self.mails_set_aside = Counter(
            "askfirst_mails_set_aside", "Mails set aside ($askfirst-error)", registry=r
        )
        self.pass_failures = Counter(
            "askfirst_pass_failures", "Passes that ended in an error", ["error"], registry=r
        )
        self.failed_in_row = 0  # passes failed since the last one that completed
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
        self.failed_in_row = 0

    def pass_failed(self, error: BaseException) -> None:
        self.pass_failures.labels(type(error).__name__).inc()
        self.failed_in_row += 1

    def seconds_since_pass(self) -> float:
        return time.monotonic() - self._last_pass if self._last_pass is not None else float("inf")

    def healthy(self) -> tuple[bool, str]:
        age = self.seconds_since_pass()
        if age > self._stale_after:
            return False, f"no completed pass for {age:.0f} s"
        if not self.imap_connected:
            return False, "IMAP not connected"
        if self.failed_in_row >= FAILED_PASSES_UNHEALTHY:
            return False, f"the last {self.failed_in_row} passes failed"
        return True, f"last pass {age:.0f} s ago"

    def serve(self, listen: str) -> ThreadingHTTPServer:
        """Start the listener ("host:port", "[v6]:port"); returns the server (its port,
        for tests). `listen` was checked by the config (`split_listen`)."""
        host, port = split_listen(listen)
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            timeout = CLIENT_TIMEOUT  # a slow or silent client is dropped

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
        server = _BoundedServer((host or "127.0.0.1", port), Handler)
        Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server


class _BoundedServer(ThreadingHTTPServer):
    """At most MAX_CLIENTS connections at once; IPv6 when the address is one; errors
    logged in one line."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            logs.get().warning("metrics.busy", client=str(client_address[0]))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        logs.get().info("metrics.client_error", client=str(client_address[0]), error=repr(error))
