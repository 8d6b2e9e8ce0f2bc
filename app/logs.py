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
from collections import deque
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
        self._scrubber = Scrubber(secrets or [])

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
    # Our lines never show where a call was made from: the logging module's own "Optimization" advice is to
    # not look it up (finding the caller walks the stack on every record). Process ids stay: gunicorn's
    # own lines print them.
    logging._srcfile = None
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
    that many bytes wait, when `flush_seconds` have passed since the last write, and when the process exits. One
    write() per request was a tenth of what a cached catalog answer cost (make bench); the price is that
    a process killed outright (SIGKILL, out of memory) loses its last second of access lines.
    """

    def __init__(self, secrets: list[str], buffer_bytes: int = 0, flush_seconds: float = 1.0):
        from app.reporting import Scrubber

        self.secrets = Scrubber(secrets).secrets  # the values worth matching: the scrubber says which
        self.buffer_bytes, self.flush_seconds = buffer_bytes, flush_seconds
        self._second = (0, "")  # (a whole second, its ISO text): one object, swapped whole
        self._parts: dict[tuple, tuple[str, str]] = {}
        # Lines wait in a deque: append and popleft are atomic, so no lock is taken per request, and a
        # flush that drains it while others append loses nothing. The byte count only decides when.
        self._pending: deque[str] = deque()
        self._size, self._flushed, self._flusher = 0, time.time(), False
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
        rule, now = environ.get(ROUTE_KEY), time.time()
        who = (environ.get("REQUEST_METHOD", ""), rule.rule if rule is not None else None, environ.get("REMOTE_ADDR"),
               environ.get("HTTP_USER_AGENT", "")[:200], environ.get(USER_KEY))
        parts = self._parts.get(who)  # a client sends the same few of these over and over: encoded once each
        if parts is None:
            parts = self._encode(*who)
        line = ACCESS_TEMPLATE % (self.timestamp(now), self._scrub(_string(environ.get(REQUEST_ID_KEY))), parts[0],
                                  status, seconds * 1000, parts[1])
        if not self.buffer_bytes:
            sys.stderr.write(line)
            return
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.buffer_bytes or now - self._flushed >= self.flush_seconds:
            self.flush()
        if not self._flusher:  # for the lines of a quiet moment: nothing else would write them
            self._flusher = True
            threading.Thread(target=_flush_regularly, args=(weakref.ref(self),), name="access-log-flush",
                             daemon=True).start()

    def _encode(self, method: str, route: str | None, client: str | None, user_agent: str,
                user: str | None) -> tuple[str, str]:
        parts = (
            # The route's template, never the raw path: ids stay out of what is counted and searched.
            f'"method": {_string(method[:16])}, "route": {_string(route)}',
            # The client's address after ProxyFix: TRUSTED_PROXY_HOPS decides whom to believe.
            f'"client": {_string(client)}, "user_agent": {_string(user_agent[:200])}, "clerk_user_id": {_string(user)}',
        )
        parts = (self._scrub(parts[0]), self._scrub(parts[1]))
        if len(self._parts) >= 1024:
            self._parts.clear()
        self._parts[(method, route, client, user_agent, user)] = parts
        return parts

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text

    def flush(self) -> None:
        self._size, self._flushed = 0, time.time()
        lines, pending = [], self._pending
        while pending:
            lines.append(pending.popleft())
        if lines:
            sys.stderr.write("".join(lines))
            sys.stderr.flush()

    def _forked(self) -> None:
        self._pending, self._size, self._flushed, self._flusher = deque(), 0, time.time(), False


def _flush_regularly(me: "weakref.ref[AccessLine]") -> None:
    """A quiet moment's lines are written within flush_seconds; ends with its AccessLine."""
    while (line := me()) is not None:
        if line._pending and time.time() - line._flushed >= line.flush_seconds:
            line.flush()
        pause = line.flush_seconds / 4
        del line
        time.sleep(pause)


ACCESS_TEMPLATE = ('{"time": "%s", "level": "info", "logger": "app.access", "message": "request", "request_id": %s, '
                   '%s, "status": %d, "duration_ms": %.2f, %s}\n')


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def register_request_metrics(app: Flask) -> None:
    """Every request's duration, by route template, method and status (tatame_http_request_duration_seconds)."""
    from app.metrics import observe_request

    app.extensions["tatame.edge"].observers.append(observe_request)
