"""Turns the environment (and `.env` when present) into one validated Config.

Each variable is declared once, as a field of Config: its name, default, parser and one-line meaning
(`setting(...)`). `from_env` reads them all, `python -m config` writes docs/configuration.md from them.
`create_app` takes a Config; it never reads the environment itself. Production refuses to start on a
missing or malformed value and names every such variable at once; values are never printed.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent
ENVIRONMENTS = ("development", "test", "production")
DEV_CORS_ORIGIN = "http://localhost:3001"
# The API version this code was written and tested against; Stripe answers in it
# whatever the account's default version is.
STRIPE_API_VERSION = "2026-10-28.endive"
PRODUCTION, BILLING = "production", "production, while BILLING_ENABLED"  # when a variable is required
SERVER = "Server (gunicorn)"  # the group gunicorn.conf.py reads

Parser = Callable[[str, bool], Any]  # (the value, whether in production) -> the setting; ValueError("must ...")


class ConfigError(Exception):
    """The environment does not make a valid configuration; `problems` names each variable."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration: " + "; ".join(problems))


@dataclass(frozen=True)
class Setting:
    """How one environment variable becomes a Config field."""

    env: str
    parse: Parser
    meaning: str
    group: str | None = None    # the first field of each group names it (docs/configuration.md's sections)
    secret: bool = False        # never in repr, scrubbed from logs and error reports
    required: str | None = None  # PRODUCTION or BILLING: production refuses to start without it
    dev_default: bool = False   # the default holds outside production only
    shown: str | None = None    # the Default column, when the default itself does not say it


def setting(default: Any, env: str, parse: Parser, meaning: str, **options: Any) -> Any:
    return field(default=default, repr=not options.get("secret", False),
                 metadata={"setting": Setting(env, parse, meaning, **options)})


# Parsers: each takes the stripped, non-empty text; an empty variable counts as unset.

def text(value: str, production: bool) -> str:
    return value


def flag(value: str, production: bool) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def whole(low: int, high: int) -> Parser:
    def parse(value: str, production: bool) -> int:
        if not re.fullmatch(r"\d+", value) or not low <= int(value) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return int(value)
    return parse


def number(low: float, high: float) -> Parser:
    def parse(value: str, production: bool) -> float:
        try:
            result = float(value)
        except ValueError:
            result = float("nan")
        if not low <= result <= high:
            raise ValueError(f"must be a number from {low} to {high}")
        return result
    return parse


def choice(*options: str) -> Parser:
    def parse(value: str, production: bool) -> str:
        for option in options:
            if value.lower() == option.lower():
                return option
        raise ValueError(f"must be {', '.join(options[:-1])} or {options[-1]}")
    return parse


def prefixed(*prefixes: str) -> Parser:
    def parse(value: str, production: bool) -> str:
        if not value.startswith(prefixes):
            raise ValueError(f"must start with {' or '.join(prefixes)}")
        return value
    return parse


def listing(value: str, production: bool = False) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def url(value: str, production: bool) -> str:
    """An http(s) URL without its trailing slash; https only in production."""
    schemes = ("https",) if production else ("http", "https")
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ValueError(f"must be an {' or '.join(schemes)} URL")
    return value.rstrip("/")


def redis_address(value: str, production: bool) -> str:
    if urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def at_least_16(value: str, production: bool) -> str:
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def rate(value: str, production: bool) -> str:
    form = r"\s*\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?\s*"
    if not all(re.fullmatch(form, part, re.IGNORECASE) for part in value.split(";")):
        raise ValueError("must look like '60/minute' (several joined by ';')")
    return value


def webhook_secrets(value: str, production: bool) -> tuple[str, ...]:
    # A secret is the HMAC key: "whsec_" alone (or a short one) would let anyone sign events.
    secrets = listing(value)
    if any(not re.fullmatch(r"whsec_[A-Za-z0-9_+/=-]{16,}", secret) for secret in secrets):
        raise ValueError("must be whsec_ values (at least 16 characters after the prefix), comma-separated")
    return secrets


def svix_secrets(value: str, production: bool) -> tuple[str, ...]:
    # Svix's secrets are whsec_ + base64 of the HMAC key (Clerk's: 24 bytes); a short key would be guessable.
    secrets = listing(value)
    for secret in secrets:
        body = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except ValueError:
            key = b""
        if not secret.startswith("whsec_") or len(key) < 16:
            raise ValueError("must be whsec_ values (base64 of at least 16 bytes after the prefix), comma-separated")
    return secrets


def browser_origins(value: str, production: bool) -> tuple[str, ...]:
    origins = listing(value)
    for origin in origins:
        parsed = urlparse(origin)
        if origin != "*" and (parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path):
            raise ValueError("must be origins such as https://app.example.com, comma-separated")
    if production and "*" in origins:
        raise ValueError("may not be * in production")
    return origins


def redirect_origins(value: str, production: bool) -> tuple[str, ...]:
    origins = listing(value)
    for origin in origins:
        parsed = urlparse(origin)
        web = parsed.scheme in ("http", "https")
        app_scheme = re.fullmatch(r"[a-z][a-z0-9+.-]*://", origin) is not None  # "localhost:3001" is not one
        if not (web or app_scheme) or (web and (not parsed.netloc or parsed.path not in ("", "/"))) or (
                production and parsed.scheme == "http"):
            raise ValueError("must be origins (https://app.example) or app schemes (tatame://), comma-separated;"
                             " http only outside production")
    return origins


def issuers(value: str, production: bool) -> tuple[str, ...]:
    # Compared exactly with a token's `iss`; a proxy URL may have a path (https://app.example/__clerk).
    values = tuple(issuer.rstrip("/") for issuer in listing(value))
    for issuer in values:
        parsed = urlparse(issuer)
        if parsed.scheme != "https" or not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError("must be https URLs (e.g. https://clerk.example.com), comma-separated")
    return values


def publishable_key(value: str, production: bool) -> str:
    value = prefixed("pk_test_", "pk_live_")(value, production)
    if clerk_frontend_api(value) is None:
        raise ValueError("is not a well-formed Clerk publishable key")
    return value


def rsa_public_key(value: str, production: bool) -> str:
    value = value.replace("\\n", "\n")  # one-line PEMs from dashboards and .env files
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        usable = isinstance(load_pem_public_key(value.encode()), RSAPublicKey)
    except (ValueError, TypeError):
        usable = False
    if not usable:
        raise ValueError("must be an RSA public key in PEM form (-----BEGIN PUBLIC KEY-----)")
    return value


@dataclass(frozen=True)
class Config:
    app_env: str = setting("development", "APP_ENV", choice(*ENVIRONMENTS), "`development`, `test` or"
                           " `production` (production checks every value and uses no development default)",
                           group="Service")
    port: int = setting(3000, "PORT", whole(1, 65535), "listening port (the app's and gunicorn's)")
    log_level: str = setting("INFO", "LOG_LEVEL", choice("DEBUG", "INFO", "WARNING", "ERROR"),
                             "least level logged; logs are JSON lines with the request id")
    cors_origins: tuple[str, ...] = setting(
        (DEV_CORS_ORIGIN,), "CORS_ORIGIN", browser_origins, "allowed browser origins, comma-separated (`*` refused in"
        " production)", required=PRODUCTION, dev_default=True)
    trusted_proxy_hops: int = setting(0, "TRUSTED_PROXY_HOPS", whole(0, 5),
                                      "proxies in front whose `X-Forwarded-For` is believed (Railway: `1`)")
    max_json_body: int = setting(64 * 1024, "MAX_JSON_BODY_BYTES", whole(1024, 16 * 1024 * 1024),
                                 "body limit on the JSON API, in bytes")
    max_webhook_body: int = setting(1024 * 1024, "MAX_WEBHOOK_BODY_BYTES", whole(1024, 16 * 1024 * 1024),
                                    "body limit on webhooks, in bytes")

    stripe_secret_key: str | None = setting(
        None, "STRIPE_SECRET_KEY", prefixed("sk_", "rk_"), "`sk_...` or `rk_...`; without it (outside production),"
        " the sandbox's Stripe and its offline catalog", group="Stripe", secret=True, required=PRODUCTION)
    stripe_webhook_secrets: tuple[str, ...] = setting(
        (), "STRIPE_WEBHOOK_SECRET", webhook_secrets, "`whsec_...` signing secrets, comma-separated during rotation;"
        " without one (outside production), the sandbox's secret", secret=True, required=PRODUCTION)
    stripe_webhook_tolerance: int = setting(300, "STRIPE_WEBHOOK_TOLERANCE", whole(1, 86400),
                                            "seconds a webhook signature's timestamp may be off")
    stripe_api_base: str | None = setting(None, "STRIPE_API_BASE", url, "another Stripe API address (stripe-mock,"
                                          " a proxy)", shown="Stripe's")
    stripe_timeout: float = setting(5.0, "STRIPE_TIMEOUT", number(0.1, 60), "seconds per Stripe request attempt;"
                                    " one call's worst case is (retries + 1) x this, plus 0.5-1 s of backoff")
    stripe_max_retries: int = setting(2, "STRIPE_MAX_RETRIES", whole(0, 5),
                                      "network retries per Stripe request (the SDK's backoff)")
    stripe_max_concurrency: int = setting(
        20, "STRIPE_MAX_CONCURRENCY", whole(1, 1000), "Stripe calls in flight at once per worker process; past"
        " it (after 0.25 s), 502 `SERVICE_ERROR` with `Retry-After: 2` at once, so a hanging Stripe holds few requests")
    stripe_api_version: str = STRIPE_API_VERSION

    clerk_jwt_key: str | None = setting(
        None, "CLERK_JWT_KEY", rsa_public_key, "Clerk's RSA public key (PEM, `\\n` allowed): the first key source;"
        " production needs one of the four", group="Clerk", secret=True)
    clerk_jwks_url: str | None = setting(None, "CLERK_JWKS_URL", url, "a JWKS address: the second key source")
    clerk_publishable_key: str | None = setting(None, "CLERK_PUBLISHABLE_KEY", publishable_key,
                                                "`pk_...`: the third key source (its Frontend API's JWKS)")
    clerk_secret_key: str | None = setting(None, "CLERK_SECRET_KEY", prefixed("sk_test_", "sk_live_"),
                                           "`sk_...`: the fourth key source (Clerk's Backend API); also turns on"
                                           " publishing each member's plan to Clerk", secret=True)
    clerk_authorized_parties: tuple[str, ...] = setting(
        (), "CLERK_AUTHORIZED_PARTIES", listing, "allowed `azp` origins, comma-separated")
    clerk_issuers: tuple[str, ...] = setting(
        (), "CLERK_ISSUERS", issuers, "accepted `iss` besides the derived one (a Clerk proxy URL, satellites):"
        " https URLs, comma-separated, compared exactly")
    clerk_require_azp: bool = setting(False, "CLERK_REQUIRE_AZP", flag, "also refuse tokens without `azp` (every"
                                      " native app's); needs CLERK_AUTHORIZED_PARTIES")
    clerk_webhook_secrets: tuple[str, ...] = setting(
        (), "CLERK_WEBHOOK_SECRET", svix_secrets, "`whsec_...` signing secrets of the Clerk webhook endpoint (Svix),"
        " comma-separated during rotation; without one, outside production the sandbox's, in production every"
        " delivery to `/webhooks/clerk` is refused", secret=True)
    account_deletion_refund: str = setting("none", "ACCOUNT_DELETION_REFUND", choice("none", "prorate"), "when a"
                                           " Clerk user is deleted, their subscriptions end at once: `none` without"
                                           " refund; `prorate` with Stripe's proration, a final invoice crediting"
                                           " the unused time (docs/accounts.md)")
    clerk_api_url: str = "https://api.clerk.com"
    clerk_publish_timeout: float = 5.0  # seconds per Clerk call of the outbox sender (its lease outlives it)
    clerk_jwks_ttl: int = 300
    clerk_jwks_cooldown: int = 5   # least seconds between fetches: how soon a rotated key is taken

    supabase_url: str | None = setting(None, "SUPABASE_URL", url, "the production store (with"
                                       " SUPABASE_SERVICE_ROLE_KEY); without both, SQLite", group="Storage",
                                       required=PRODUCTION)
    supabase_service_role_key: str | None = setting(None, "SUPABASE_SERVICE_ROLE_KEY", text,
                                                    "the store's key (with SUPABASE_URL)", secret=True,
                                                    required=PRODUCTION)
    instance_path: str = setting(str(BASE_DIR / "instance"), "INSTANCE_PATH", text,
                                 "folder for local files: the SQLite file, the sandbox's keys and state", shown="`./instance`")
    sqlite_path: str = setting(str(BASE_DIR / "instance" / "tatame.sqlite3"), "SQLITE_PATH", text,
                               "the embedded store's file", shown="`$INSTANCE_PATH/tatame.sqlite3`")
    redis_url: str | None = setting(
        None, "REDIS_URL", redis_address, "`redis://...`: the catalog cache, rate-limit counters and membership"
        " generation, shared by every instance; if Redis goes away, requests go on (logged)", secret=True,
        shown="— (one instance: memory and files)")
    catalog_cache_ttl: int = setting(300, "CATALOG_CACHE_TTL", whole(0, 86400), "seconds a catalog answer is"
                                     " served without asking Stripe; `0` turns the cache off")
    catalog_stale_ttl: int = setting(86400, "CATALOG_STALE_TTL", whole(0, 30 * 86400),
                                     "seconds a copy is kept to answer from when Stripe fails")

    rate_limit_enabled: bool = setting(True, "RATE_LIMIT_ENABLED", flag, "`false` turns every limit off",
                                       group="Rate limits")
    rate_limit_user: str = setting("60/minute", "RATE_LIMIT_USER", rate, "per Clerk user on `/stripe/*`, a"
                                   " sliding window; several joined by `;` (e.g. `10/second;300/minute`)")
    rate_limit_webhook: str = setting("1000/minute", "RATE_LIMIT_WEBHOOK", rate, "per client address on"
                                      " `/webhooks/stripe`, counted apart for deliveries whose signature verifies;"
                                      " the same, apart, on `/webhooks/clerk`")
    rate_limit_purchase: str = setting("10/minute", "RATE_LIMIT_PURCHASE", rate, "per Clerk user: the requests"
                                       " that make something at Stripe (checkout, payment sheet, portal, cancel,"
                                       " resume)")
    stripe_in_flight_per_user: int = setting(2, "STRIPE_IN_FLIGHT_PER_USER", whole(1, 100), "per Clerk user and"
                                             " worker process: requests that call Stripe at once; past it, 429")

    billing_enabled: bool = setting(True, "BILLING_ENABLED", flag, "`false` leaves out the billing routes (and"
                                    " their production requirements)", group="Billing")
    checkout_success_url: str | None = setting(
        f"{DEV_CORS_ORIGIN}/billing/success", "CHECKOUT_SUCCESS_URL", url, "where Stripe sends the member back"
        " after paying, when the app gives no address", required=BILLING, dev_default=True)
    checkout_cancel_url: str | None = setting(
        f"{DEV_CORS_ORIGIN}/billing/cancel", "CHECKOUT_CANCEL_URL", url, "... after leaving the checkout",
        required=BILLING, dev_default=True)
    portal_return_url: str | None = setting(
        f"{DEV_CORS_ORIGIN}/billing", "PORTAL_RETURN_URL", url, "... from the customer portal",
        required=BILLING, dev_default=True)
    billing_redirect_origins: tuple[str, ...] = setting(
        (), "BILLING_REDIRECT_ORIGINS", redirect_origins, "further allowed redirect origins or app schemes"
        " (`tatame://`), comma-separated")
    stripe_publishable_key: str | None = setting(
        None, "STRIPE_PUBLISHABLE_KEY", prefixed("pk_test_", "pk_live_"), "`pk_...`, returned to the mobile app"
        " with the payment sheet", required=BILLING)
    trial_days: int = setting(0, "TRIAL_DAYS", whole(0, 730), "a trial for a member who never had a subscription"
                              " (`0`: none)")
    past_due_access: bool = setting(False, "PAST_DUE_ACCESS", flag, "`past_due` keeps access (a grace period"
                                    " while Stripe retries the card)")
    webhook_lease_seconds: float = setting(60.0, "WEBHOOK_LEASE_SECONDS", number(1, 3600), "how long a claimed"
                                           " event is protected from other deliveries")
    purchase_lease_seconds: float = 60.0   # longer than a purchase's Stripe calls at their worst (3 x 15 s)
    customer_lease_seconds: float = 30.0
    customer_wait_seconds: float = 10.0

    access_log: bool = setting(True, "ACCESS_LOG", flag, "one JSON line per request (logger `app.access`):"
                               " method, route template, status, duration, request id, client, user agent, user",
                               group="Observability")
    access_log_buffer: int = setting(32768, "ACCESS_LOG_BUFFER", whole(0, 1 << 20), "bytes of access lines"
                                     " written at once, each within a second (`0`: one write per line)")
    access_log_flush: float = 1.0   # ... at the latest this many seconds after the oldest line
    metrics_token: str | None = setting(None, "METRICS_TOKEN", at_least_16, "the bearer token Prometheus"
                                        " scrapes `GET /metrics` with; without it the route does not exist",
                                        secret=True)
    sentry_dsn: str | None = setting(None, "SENTRY_DSN", url, "where unexpected errors are reported; without it,"
                                     " nowhere", secret=True)

    sandbox_delivery: str = setting("normal", "SANDBOX_DELIVERY", choice("normal", "chaos"), "the sandbox only:"
                                    " `chaos` also repeats, reorders and delays its Stripe's webhook deliveries",
                                    group="Sandbox")

    worker_class: str = setting("gevent", "GUNICORN_WORKER_CLASS", choice("gevent", "gthread"), "`gevent` (slow"
                                " clients cost a socket, not a thread) or `gthread`", group=SERVER)
    workers: int = setting(3, "WEB_CONCURRENCY", whole(1, 256), "gunicorn worker processes")
    threads: int = setting(8, "GUNICORN_THREADS", whole(1, 1000), "threads per worker (`gthread` only)")
    worker_connections: int = setting(1000, "GUNICORN_WORKER_CONNECTIONS", whole(1, 100_000),
                                      "connections per worker (`gevent` only)")
    worker_timeout: int = setting(30, "GUNICORN_TIMEOUT", whole(1, 3600), "seconds before a silent worker is"
                                  " restarted")
    server_access_log: str | None = setting(None, "GUNICORN_ACCESS_LOG", text, "where gunicorn writes its own"
                                            " text access log (`-`: stdout); the app's JSON line replaces it",
                                            shown="— (off)")
    forwarded_allow_ips: str = setting("127.0.0.1", "FORWARDED_ALLOW_IPS", text, "gunicorn's own trust of"
                                       " forwarded headers (the app's is TRUSTED_PROXY_HOPS)")
    metrics_dir: str | None = setting(None, "PROMETHEUS_MULTIPROC_DIR", text, "where each worker writes its"
                                      " metrics (prometheus-client's variable); set only to choose the folder",
                                      shown="a fresh folder per start")

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def uses_supabase(self) -> bool:
        return bool(self.supabase_url and self.supabase_service_role_key)

    def secrets(self) -> list[str]:
        """Every configured secret value, for scrubbing and for tests that look for leaks."""
        values: list[str] = []
        for name, declared in settings().items():
            value = getattr(self, name)
            if declared.secret:
                values.extend(value if isinstance(value, tuple) else [value] if value else [])
        return values

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> "Config":
        """Build and validate a Config from `environ` (default: os.environ plus `.env`)."""
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(BASE_DIR / ".env", override=False)
            environ = os.environ
        given = _given(environ)
        problems: list[str] = []
        production = given.get("APP_ENV", "development").lower() == "production"
        if "APP_ENV" in given and given["APP_ENV"].lower() not in ENVIRONMENTS:
            production = True  # judge the rest by the strictest rules
        values = _read(settings(), given, production, problems)
        if "SQLITE_PATH" not in given:
            values["sqlite_path"] = str(Path(values["instance_path"]) / "tatame.sqlite3")
        _check_together(values, problems)
        if production:
            _check_production(values, problems)
        if problems:
            raise ConfigError(problems)
        return cls(**values)

    @classmethod
    def server_from_env(cls, environ: Mapping[str, str]) -> "Config":
        """PORT and the server group only, checked the same way (the rest at its defaults, unread): what
        gunicorn.conf.py needs before the app exists."""
        problems: list[str] = []
        values = _read({"port": settings()["port"], **groups()[SERVER]}, _given(environ), False, problems)
        if problems:
            raise ConfigError(problems)
        return cls(**values)


def groups() -> dict[str, dict[str, Setting]]:
    """Config's declared variables by group (field name -> Setting), in declaration order."""
    found: dict[str, dict[str, Setting]] = {}
    title = ""
    for f in fields(Config):
        if "setting" in f.metadata:
            title = f.metadata["setting"].group or title
            found.setdefault(title, {})[f.name] = f.metadata["setting"]
    return found


def settings() -> dict[str, Setting]:
    """Config's field name -> its declared variable, in declaration order."""
    return {name: declared for members in groups().values() for name, declared in members.items()}


def _given(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value.strip() for name, value in environ.items() if value.strip()}  # empty is unset


def _read(wanted: dict[str, Setting], given: Mapping[str, str], production: bool, problems: list[str]) -> dict:
    """Each wanted field parsed from its variable, or its default; every malformed one named in `problems`."""
    defaults = {f.name: f.default for f in fields(Config)}
    values = {}
    for name, declared in wanted.items():
        default = defaults[name]
        if production and declared.dev_default:
            default = () if isinstance(default, tuple) else None
        values[name] = default
        if declared.env in given:
            try:
                values[name] = declared.parse(given[declared.env], production)
            except ValueError as error:
                problems.append(f"{declared.env} {error}")
    return values


def _check_together(values: dict, problems: list[str]) -> None:
    """What no single variable can tell."""
    if values["clerk_require_azp"] and not values["clerk_authorized_parties"]:
        # Requiring an `azp` without saying which ones would accept any: surely a mistake.
        problems.append("CLERK_REQUIRE_AZP needs CLERK_AUTHORIZED_PARTIES")
    if bool(values["supabase_url"]) != bool(values["supabase_service_role_key"]):
        problems.append("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY go together: set both or neither")


def _check_production(values: dict, problems: list[str]) -> None:
    """Every variable production requires, unless already named as malformed."""
    for name, declared in settings().items():
        needed = declared.required == PRODUCTION or (declared.required == BILLING and values["billing_enabled"])
        if needed and not values[name] and not any(declared.env in p for p in problems):
            problems.append(f"{declared.env} is required in production")
    clerk_sources = ("clerk_jwt_key", "clerk_jwks_url", "clerk_publishable_key", "clerk_secret_key")
    if not any(values[name] for name in clerk_sources) and not any("CLERK" in p for p in problems):
        problems.append(
            "one of CLERK_JWT_KEY, CLERK_JWKS_URL, CLERK_PUBLISHABLE_KEY or CLERK_SECRET_KEY is required in production"
        )


def clerk_frontend_api(publishable_key: str) -> str | None:
    """The Frontend API host encoded in a Clerk publishable key (`pk_test_<base64(host$)>`)."""
    encoded = publishable_key.split("_", 2)[-1]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    if not decoded.endswith("$") or not re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", decoded[:-1]):
        return None
    return decoded[:-1]


def configuration_table() -> str:
    """docs/configuration.md: every variable, its default and meaning, by group (`python -m config`)."""
    lines = ["# Configuration", "",
             "Generated from the declaration in `config.py` by `make config-docs` (a test fails when this file"
             " differs). Read from the environment, and from `.env` when present; validated at start-up. In"
             " production a missing or malformed value stops the service with every problem named (values are"
             " never printed), no development default is used, and URLs must be https. An empty variable counts"
             " as unset."]
    defaults = {f.name: f.default for f in fields(Config)}
    for title, members in groups().items():
        lines += ["", f"## {title}", "", "| Variable | Default | Meaning |", "|---|---|---|"]
        for name, declared in members.items():
            shown = declared.shown or _shown(defaults[name])
            if declared.dev_default:
                shown += " outside production"
            if declared.required:
                shown = ("" if shown == "—" else f"{shown}; ") + f"**required** in {declared.required}"
            lines.append(f"| `{declared.env}` | {shown} | {declared.meaning} |")
    return "\n".join(lines) + "\n"


def _shown(default: Any) -> str:
    if default is None or default == ():
        return "—"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    if isinstance(default, tuple):
        default = ",".join(default)
    return f"`{default}`"


if __name__ == "__main__":  # python -m config [path]: write the configuration table
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else BASE_DIR / "docs" / "configuration.md"
    target.write_text(configuration_table())
    print(f"{target} written")
