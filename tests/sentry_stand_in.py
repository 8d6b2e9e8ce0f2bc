"""A local HTTP server standing in for Sentry: it takes sentry-sdk's envelopes and decodes them."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sentry_sdk
from sentry_sdk.envelope import Envelope


class SentryStandIn:
    """A local HTTP server taking sentry-sdk's envelopes (POST /api/1/envelope/), decoded."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                elif self.headers.get("Content-Encoding") == "br":
                    import brotli

                    data = brotli.decompress(data)
                received.append((self.path, data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.dsn = f"http://public@127.0.0.1:{self.server.server_port}/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        """The events this process's client sent, after flushing it."""
        sentry_sdk.flush(timeout=5)
        return self.decoded()

    def raw(self) -> str:
        return b"\n".join(data for _, data in self.received).decode("utf-8", "replace")

    def wait_for_events(self, count: int, timeout: float = 10) -> list[dict]:
        """The events another process sent, once there are `count` of them (its client sends in the background)."""
        deadline = time.monotonic() + timeout
        while len(self.decoded()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.decoded()

    def decoded(self) -> list[dict]:
        return [item.payload.json for _, data in list(self.received) for item in Envelope.deserialize(data).items
                if item.type == "event"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
