"""One JSON line per log record, carrying the request id; secrets are scrubbed."""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
import weakref
from datetime import datetime, timezone

from json.encoder import encode_basestring_ascii

from flask import Flask, has_request_context, request

from app.errors import REQUEST_ID_KEY
from app.http import ROUTE_KEY, USER_KEY

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None):
        from app.reporting import Scrubber

        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 8]
        self._scrubber = Scrubber(self.secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = request.environ.get(REQUEST_ID_KEY)
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # A line may quote an upstream message or an exception: the configured secrets go, and so does what
        # merely looks like one (tokens, client secrets, Checkout and portal URLs), as in the error reports.
        return self._scrubber.text(json.dumps(entry, default=str))


def configure_logging(level: str, secrets: list[str]) -> None:
    """Send the `app` loggers to stderr as JSON, once per process."""
    # The Stripe SDK logs request URLs and whole response bodies at INFO and DEBUG: checkout and portal URLs
    # and client secrets are capabilities, so its records below WARNING are never even made.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    logger = logging.getLogger("app")
    logger.setLevel(level)
    for handler in logger.handlers:
        if getattr(handler, "_tatame", False):
            handler.setFormatter(JsonFormatter(secrets))
            return
    handler = logging.StreamHandler(sys.stderr)
    handler._tatame = True
    handler.setFormatter(JsonFormatter(secrets))
    logger.addHandler(handler)
    logger.propagate = False


def register_access_log(app: Flask, *, enabled: bool, secrets: list[str] | None = None, buffer_bytes: int = 0,
                        flush_seconds: float = 1.0) -> None:
    """One JSON line per request (logger `app.access`); gunicorn's text access log is off by default.

    The request edge (app/http.py) calls it once the app has answered. The line is written straight to
    stderr, in the same shape as every other log line: it is made of known fields only, and the logging
    module's record machinery cost more than the line itself (11.7 µs against 3.3 µs a line, timeit).
    """
    if enabled and logging.getLogger("app.access").getEffectiveLevel() <= logging.INFO:
        # (LOG_LEVEL above INFO silences access lines, as it would through logging.)
        app.extensions["tatame.edge"].observers.append(AccessLine(secrets or [], buffer_bytes, flush_seconds))


class AccessLine:
    """Writes the access line of one request: fields the client chose are JSON-escaped, the rest is ours.

    With `buffer_bytes`, lines are written in batches, as nginx's `access_log ... buffer= flush=` does: when
    that many bytes wait, when the oldest has waited `flush_seconds`, and when the process exits. One
    write() per request was a tenth of what a cached catalog answer cost (make bench); the price is that
    a process killed outright (SIGKILL, out of memory) loses its last second of access lines.
    """

    def __init__(self, secrets: list[str], buffer_bytes: int = 0, flush_seconds: float = 1.0):
        self.secrets = [s for s in secrets if len(s) >= 8]
        self.buffer_bytes, self.flush_seconds = buffer_bytes, flush_seconds
        self._second = (0, "")  # (a whole second, its ISO text): one object, swapped whole
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._size, self._since, self._flusher = 0, 0.0, False
        if buffer_bytes:
            me = weakref.ref(self)
            atexit.register(lambda: (line := me()) is not None and line.flush())
            # A forked worker starts with nothing pending (the parent's lines are the parent's to write).
            os.register_at_fork(after_in_child=lambda: (line := me()) is not None and line._forked())

    def timestamp(self, now: float) -> str:
        second, text = self._second
        if int(now) != second:
            second = int(now)
            text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{int((now - second) * 1000):03d}+00:00"

    def __call__(self, environ: dict, status: int, seconds: float) -> None:
        rule, user, now = environ.get(ROUTE_KEY), environ.get(USER_KEY), time.time()
        line = ACCESS_TEMPLATE % (
            self.timestamp(now),
            _string(environ.get(REQUEST_ID_KEY)),
            _string(environ.get("REQUEST_METHOD", "")[:16]),
            # The route's template, never the raw path: ids stay out of what is counted and searched.
            _string(rule.rule) if rule is not None else "null",
            status,
            seconds * 1000,
            _string(environ.get("REMOTE_ADDR")),  # after ProxyFix: TRUSTED_PROXY_HOPS decides whom to believe
            _string(environ.get("HTTP_USER_AGENT", "")[:200]),
            _string(user),
        )
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, "[redacted]")
        if not self.buffer_bytes:
            sys.stderr.write(line)
            return
        with self._lock:
            if not self._pending:
                self._since = now
            self._pending.append(line)
            self._size += len(line)
            due = self._size >= self.buffer_bytes or now - self._since >= self.flush_seconds
            start_flusher, self._flusher = not self._flusher, True
        if due:
            self.flush()
        if start_flusher:  # for the lines of a quiet moment: nothing else would write them
            threading.Thread(target=_flush_regularly, args=(weakref.ref(self),), name="access-log-flush",
                             daemon=True).start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending, self._size = self._pending, [], 0
        if pending:
            sys.stderr.write("".join(pending))
            sys.stderr.flush()

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._pending, self._size, self._flusher = [], 0, False


def _flush_regularly(me: "weakref.ref[AccessLine]") -> None:
    """A quiet moment's lines are written within flush_seconds; ends with its AccessLine."""
    while (line := me()) is not None:
        with line._lock:
            due = bool(line._pending) and time.time() - line._since >= line.flush_seconds
        if due:
            line.flush()
        pause = line.flush_seconds / 4
        del line
        time.sleep(pause)


ACCESS_TEMPLATE = ('{"time": "%s", "level": "info", "logger": "app.access", "message": "request", "request_id": %s, '
                   '"method": %s, "route": %s, "status": %d, "duration_ms": %.2f, "client": %s, "user_agent": %s, '
                   '"clerk_user_id": %s}\n')


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def register_request_metrics(app: Flask) -> None:
    """Every request's duration, by route template, method and status (tatame_http_request_duration_seconds)."""
    from app.metrics import observe_request

    app.extensions["tatame.edge"].observers.append(observe_request)
