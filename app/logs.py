"""The log line: one JSON object per record, its fields defined once (JsonFormatter), every secret scrubbed
(the error reports' Scrubber), written to stderr. The access line (app/request_cycle.py) is one such record."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import weakref
from datetime import datetime, timezone

from app.reporting import Scrubber
from app.request_ids import current_request_id

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_access_handler: "JsonLinesHandler | None" = None  # where access lines go: set by configure_logging


class JsonFormatter(logging.Formatter):
    """A line's fields: time, level, logger, message, request_id (the record's, else the current request's;
    none outside a request), the record's extras, the exception. A line may quote an upstream message or
    an exception: the configured secrets go, and so does what merely looks like one (tokens, client
    secrets, Checkout and portal URLs)."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.scrubber = Scrubber(secrets or [])
        self._encoder = json.JSONEncoder(default=str)  # json.dumps(..., default=str) would build one per line
        self._second: tuple[int, str] = (-1, "")  # (a whole second, its text): lines come many to a second

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and k[0] != "_"}
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(record.created, record.levelname.lower(), record.name, record.getMessage(),
                         record.__dict__.get("request_id"), extras, exception)

    def line(self, created: float, level: str, logger: str, message: str, request_id: str | None,
             extras: dict, exception: str | None = None) -> str:
        """The one shape of a line, scrubbed: what format() writes for a record, and the access line."""
        entry = {"time": self.timestamp(created), "level": level, "logger": logger, "message": message}
        request_id = request_id or current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(extras)
        if exception is not None:
            entry["exception"] = exception
        return self.scrubber.text(self._encoder.encode(entry))

    def timestamp(self, created: float) -> str:
        """UTC, to the millisecond: 2026-12-04T13:50:04.551+00:00."""
        second, text = self._second
        if int(created) != second:
            second = int(created)
            text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)  # one tuple, swapped whole: threads never see half of it
        return f"{text}.{int((created - second) * 1000):03d}+00:00"


class JsonLinesHandler(logging.Handler):
    """Writes formatted lines to the process's current stderr.

    With `buffer_bytes`, lines are written in batches, as nginx's `access_log ... buffer= flush=` does: when
    that many bytes wait, when `flush_seconds` have passed since the last write, and at exit (logging's own
    shutdown flushes every handler). The price: a process killed outright (SIGKILL, out of memory) loses its
    last `flush_seconds` of lines. Each line is formatted when it is logged, inside its request.
    """

    def __init__(self, formatter: JsonFormatter, *, buffer_bytes: int = 0, flush_seconds: float = 1.0):
        super().__init__()
        self.setFormatter(formatter)
        self.buffer_bytes, self.flush_seconds = buffer_bytes, flush_seconds
        self._pending: list[str] = []
        self._size, self._flushed, self._flusher = 0, time.time(), False
        me = weakref.ref(self)
        # A forked worker starts with nothing pending (the parent's lines are the parent's to write).
        os.register_at_fork(after_in_child=lambda: (handler := me()) is not None and handler._forked())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # noqa: BLE001 - logging's own contract: report it, never raise into the caller
            self.handleError(record)
            return
        self.write(line, record.created)

    def write(self, line: str, created: float) -> None:
        """Write (or batch) one formatted line; the caller holds the handler's lock (Handler.handle does)."""
        if not self.buffer_bytes:
            _write(line)
            return
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.buffer_bytes or created - self._flushed >= self.flush_seconds:
            self._write_pending()
        if not self._flusher:  # for the lines of a quiet moment: nothing else would write them
            self._flusher = True
            threading.Thread(target=_flush_regularly, args=(weakref.ref(self),), name="log-flush",
                             daemon=True).start()

    def flush(self) -> None:
        with self.lock:
            self._write_pending()

    def close(self) -> None:
        self.flush()
        super().close()

    def _write_pending(self) -> None:
        lines, self._pending, self._size, self._flushed = self._pending, [], 0, time.time()
        if lines:
            _write("".join(lines))

    def _forked(self) -> None:
        self._pending, self._size, self._flushed, self._flusher = [], 0, time.time(), False


def _write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _flush_regularly(me: "weakref.ref[JsonLinesHandler]") -> None:
    """A quiet moment's lines are written within flush_seconds; ends with its handler."""
    while (handler := me()) is not None:
        if handler._pending and time.time() - handler._flushed >= handler.flush_seconds:
            handler.flush()
        pause = handler.flush_seconds / 4
        del handler
        time.sleep(pause)


def configure_logging(level: str, secrets: list[str], *, access_buffer: int = 0, access_flush: float = 1.0) -> None:
    """The `app` loggers, as JSON lines on stderr; the access lines (`app.access`) in batches of
    `access_buffer` bytes (0: each at once). Called again (another app in the same process), it replaces
    its own handlers."""
    # The Stripe SDK logs request URLs and whole response bodies at INFO and DEBUG: checkout and portal URLs
    # and client secrets are capabilities, so its records below WARNING are never even made.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    formatter = JsonFormatter(secrets)
    logger, access = logging.getLogger("app"), logging.getLogger("app.access")
    logger.setLevel(level)
    for each in (logger, access):
        for handler in [h for h in each.handlers if isinstance(h, JsonLinesHandler)]:
            each.removeHandler(handler)
            handler.close()
    global _access_handler
    _access_handler = lines = JsonLinesHandler(formatter)  # unbatched, access lines go with the others
    logger.addHandler(lines)
    logger.propagate = False
    access.propagate = not access_buffer
    if access_buffer:
        _access_handler = JsonLinesHandler(formatter, buffer_bytes=access_buffer, flush_seconds=access_flush)
        access.addHandler(_access_handler)


def access_line(fields: dict) -> None:
    """Write one access line: a line of logger `app.access` with `fields`, by the same formatter (fields,
    scrubber) and handler as that logger's records, without building a LogRecord for it: it has no caller,
    no arguments and no exception, and it is written once per request."""
    handler = _access_handler
    if handler is None:  # logging not configured by configure_logging: nowhere of ours to write it
        return
    created = time.time()
    line = handler.formatter.line(created, "info", "app.access", "request", fields.get("request_id"), fields) + "\n"
    with handler.lock:
        handler.write(line, created)
