"""Prepared answers: the same bytes for everyone allowed to see them, sent by the request edge itself.

The catalog and liveness answer every caller alike, and their bodies are encoded once (app/routing.py).
Once Flask has sent such an answer, it is remembered here under its path and query string, and the
request edge (app/http.py) sends the next identical request's answer itself, without Flask, when it
can check everything Flask would have, as cheaply:

- a GET with no body and no Origin (CORS answers go through Flask and flask-cors);
- the caller: no one for liveness; for the catalog, a session token the Clerk verifier has already
  checked in full and remembers (app/services/clerk/), counted against the user's rate limit;
- freshness: the catalog snapshot the answer came from is still the cache's fresh one (the same
  version, TTL and invalidation as the Flask path; a stale copy is never remembered here);
- If-None-Match: a 304 exactly as Flask would answer it.

Anything else, including every error, goes to Flask, which answers as always. A request that the rate
limit refuses here goes to Flask with its refusal, so that it is counted once and answered with the
usual envelope. tests/api/test_prepared_answers.py checks that both paths answer byte for byte alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from werkzeug.http import parse_etags

from app.http import ROUTE_KEY, USER_KEY
from app.services.clerk import bearer_token
from app.services.errors import RateLimited

log = logging.getLogger(__name__)
REFUSED_KEY = "tatame.refused"  # a RateLimited met at the edge, for the Flask path to raise (app/auth.py)
PUBLIC, SIGNED_IN = "public", "signed-in"


@dataclass(frozen=True)
class Prepared:
    rule: object                          # the werkzeug Rule, for the access line and the metrics
    access: str                           # PUBLIC or SIGNED_IN
    headers: tuple[tuple[str, str], ...]  # the 200's headers, Content-Type and Content-Length included
    body: bytes
    etag: str | None = None               # quoted; None: no validator, no 304
    still_fresh: Callable[[], bool] | None = None  # None: always (a constant)
    on_answer: Callable[[], None] | None = None     # counted each time it is sent (the catalog's HIT)


class PreparedAnswers:
    """Remembered answers by (path, query string), bounded: a flood of distinct queries only refills it."""

    def __init__(self, *, verifier, rate_limiter, on_verified: Callable[[], None], size: int = 512,
                 max_bytes: int = 8 << 20):
        self.verifier, self.rate_limiter, self.on_verified = verifier, rate_limiter, on_verified
        self.size, self.max_bytes = size, max_bytes
        self._answers: dict[tuple[str, str], Prepared] = {}
        self._bytes = 0

    def remember(self, environ: dict, prepared: Prepared) -> None:
        """After Flask sent `prepared` for this request: the edge may send it for the next ones."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_ORIGIN" in environ:
            return
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        replaced = self._answers.pop(key, None)  # from an older snapshot: this one replaces it
        if replaced is not None:
            self._bytes -= len(replaced.body)
        # Bounded in entries and in bytes: distinct queries (cursors, filters) only refill it.
        if len(self._answers) >= self.size or self._bytes + len(prepared.body) > self.max_bytes:
            self.forget()
        self._answers[key] = prepared
        self._bytes += len(prepared.body)

    def forget(self) -> None:
        self._answers, self._bytes = {}, 0

    def answer(self, environ: dict, start_response) -> list[bytes] | None:
        """The answer's body, after start_response; None when Flask must answer."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_ORIGIN" in environ:
            return None
        prepared = self._answers.get((environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")))
        if prepared is None or environ.get("CONTENT_LENGTH") not in (None, "", "0") \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        try:
            return self._answer(environ, start_response, prepared)
        except Exception:  # noqa: BLE001 - never the caller's problem: Flask answers, as it would have anyway
            log.exception("prepared answer failed; Flask answers instead")
            return None

    def _answer(self, environ: dict, start_response, prepared: Prepared) -> list[bytes] | None:
        claims = None
        if prepared.access == SIGNED_IN:  # the caller first: junk tokens cost a dictionary look-up, no more
            token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
            claims = self.verifier.remembered(token) if token is not None else None
            if claims is None:
                return None  # not checked yet, or refused: Flask checks it in full
        if prepared.still_fresh is not None and not prepared.still_fresh():
            return None
        if claims is not None:
            user = claims["sub"]
            try:
                self.rate_limiter.hit("user", user)
            except RateLimited as refused:
                environ[REFUSED_KEY] = refused
                return None
            self.on_verified()
            environ[USER_KEY] = user
        environ[ROUTE_KEY] = prepared.rule
        if prepared.on_answer is not None:
            prepared.on_answer()
        given = environ.get("HTTP_IF_NONE_MATCH")
        if prepared.etag is not None and given and parse_etags(given).contains(prepared.etag.strip('"')):
            start_response("304 NOT MODIFIED", [(name, value) for name, value in prepared.headers
                                                if name not in ("Content-Type", "Content-Length")])
            return []
        start_response("200 OK", list(prepared.headers))
        return [prepared.body]
