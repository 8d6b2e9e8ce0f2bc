"""Request ids: the client's own X-Request-ID when it is sane, else a new one; kept on `flask.g` for the
error envelope, the log lines and the error reports, and sent back on every answer (app/request_cycle.py)."""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

from flask import Request, g, has_request_context, request

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    """Ids unique across processes and restarts without a syscall each: a random prefix per process (new
    in every forked worker) and a counter. They name a request; they are not secrets."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)  # next() on a count is atomic under the GIL

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


REQUEST_IDS = RequestIds()


def assign_request_id(current: Request, scope: Any) -> str:
    """The client's X-Request-ID when sane, else a new one, as this request's id (`scope.request_id`, on `g`).
    `current` and `scope` are the objects behind `request` and `g` (their `_get_current_object()`)."""
    given = current.headers.get("X-Request-ID")
    chosen = given if given and SANE_REQUEST_ID.fullmatch(given) else REQUEST_IDS.next()
    scope.request_id = chosen
    return chosen


def current_request_id() -> str | None:
    """This request's id (assigned when it started, app/request_cycle.py); None outside a request."""
    if not has_request_context():
        return None
    return g.get("request_id") or assign_request_id(request._get_current_object(), g._get_current_object())
