"""A throwaway PostgreSQL for tests/db, started from the machine's own binaries.

One server per test session: initdb into a temporary folder, listening on a unix socket in that
folder and on a free port of 127.0.0.1 only, stopped (and the folder removed) at the end. As
root (CI runs as root) the server runs as the `postgres` user, or `nobody`, since PostgreSQL
refuses to run as root. Supabase's roles are mimicked: `anon`, `authenticated`, and
`service_role` with BYPASSRLS. migrations.sql is applied twice, to prove it re-runnable.

No PostgreSQL on the machine: the tests are skipped, unless TATAME_REQUIRE_POSTGRES=1 (CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg.types.json import Jsonb
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations.sql"
DATABASE = "tatame"
SERVICE_KEY = "test-service-role-key-not-real"
SUPABASE_ROLES = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN BYPASSRLS;
    END IF;
END
$$;
-- What Supabase's setup grants by default, so that the migration's REVOKEs have work to do.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
"""


def _absent(reason: str):
    if os.environ.get("TATAME_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (TATAME_REQUIRE_POSTGRES=1 requires PostgreSQL)", pytrace=False)
    pytest.skip(f"{reason}; install PostgreSQL (Debian: apt-get install postgresql) to run tests/db")


def _pg_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: from PATH, else the newest Debian one."""
    initdb = shutil.which("initdb")
    if initdb:
        folder = Path(os.path.realpath(initdb)).parent  # Debian links /usr/local/bin/initdb there
        if (folder / "pg_ctl").exists() and (folder / "postgres").exists():
            return folder
    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all((Path(folder) / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or (as root) `postgres`, else `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    _absent("running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    socket_dir: str

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user=postgres dbname={dbname} connect_timeout=10"


@pytest.fixture(scope="session")
def pg_server():
    """A running PostgreSQL, superuser `postgres` with trust authentication."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        _absent("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin")
    user = _server_user()
    # As root, under /tmp: the server's user must be able to reach the folder, whatever TMPDIR is.
    base = tempfile.mkdtemp(prefix="tatame-pg-", dir="/tmp" if user is not None else None)
    data, log = os.path.join(base, "data"), os.path.join(base, "server.log")
    if user is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC", "HOME": base}

    def run(*args: str) -> subprocess.CompletedProcess:
        as_user = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], env=env, cwd=base, capture_output=True, text=True,
            timeout=60, check=False, **as_user,
        )

    def log_tail() -> str:
        return Path(log).read_text(errors="replace")[-3000:] if os.path.exists(log) else "(no log)"

    try:
        initdb = run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if initdb.returncode != 0:
            pytest.fail(f"initdb failed:\n{initdb.stdout}{initdb.stderr}", pytrace=False)
        for _ in range(3):  # the free port may be taken between the probe and the start
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=100 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC"
            )
            started = run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start")
            if started.returncode == 0:
                break
        else:
            pytest.fail(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{log_tail()}", pytrace=False)
    except BaseException:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
        raise

    try:
        yield PgServer("127.0.0.1", port, base)
    finally:
        run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def apply_migrations(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(MIGRATIONS.read_text())


@pytest.fixture(scope="session")
def pg_dsn(pg_server) -> str:
    """The `tatame` database, with Supabase's roles and migrations.sql applied twice."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    dsn = pg_server.conninfo(DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SUPABASE_ROLES)
    apply_migrations(dsn)
    apply_migrations(dsn)
    return dsn


@pytest.fixture
def db(pg_dsn):
    """A superuser connection (autocommit) to an empty `tatame` database."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename LIKE 'stripe\\_%'"
        ).fetchone()[0]
        conn.execute(f"TRUNCATE {tables}")  # every stripe_* table, however many the schema has
        yield conn


@pytest.fixture
def connect_as(pg_dsn):
    """connect_as(role): a new autocommit connection acting as `role`; closed after the test."""
    opened: list[psycopg.Connection] = []

    def connect(role: str = "service_role") -> psycopg.Connection:
        conn = psycopg.connect(pg_dsn, autocommit=True)
        opened.append(conn)
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        return conn

    yield connect
    for conn in opened:
        conn.close()


# --- a stand-in for PostgREST ----------------------------------------------------------------

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class PostgrestShim:
    """Just enough of PostgREST's wire format, over the test database, for SupabaseStore.

    Not PostgREST (Debian does not ship it): it serves `POST /rest/v1/rpc/<fn>` with named JSON
    arguments, and `GET`/`DELETE /rest/v1/<table>` with `select`, `limit` and `eq.` filters,
    each request in its own transaction as `service_role`, answering JSON the way PostgREST does
    (json_agg of the rows, a function's value as is). Use it as an httpx MockTransport handler.
    """

    def __init__(self, dsn: str, key: str):
        self.dsn, self.key = dsn, key
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[psycopg.Connection] = []

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _connection(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = psycopg.connect(self.dsn, autocommit=True)
            with self._lock:
                self._connections.append(conn)
        return conn

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("apikey") != self.key or request.headers.get("authorization") != f"Bearer {self.key}":
            return httpx.Response(401, json={"code": "PGRST301", "message": "JWT invalid", "details": None, "hint": None})
        path = request.url.path.removeprefix("/rest/v1/")
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET LOCAL ROLE service_role")
                if request.method == "POST" and path.startswith("rpc/"):
                    query, params = self._rpc(path[4:], json.loads(request.content or b"{}"))
                elif request.method in ("GET", "DELETE") and path.startswith("stripe_") and _NAME.match(path):
                    query, params = self._table(request, path)
                else:
                    return httpx.Response(404, json={"code": "PGRST125", "message": "Invalid path"})
                body = conn.execute(query, params).fetchone()[0]
        except psycopg.Error as exc:
            status = 409 if (exc.sqlstate or "").startswith("23") else 400
            return httpx.Response(status, json={"code": exc.sqlstate, "message": str(exc), "details": None, "hint": None})
        except ValueError as exc:
            return httpx.Response(400, json={"code": "PGRST100", "message": str(exc), "details": None, "hint": None})
        return httpx.Response(200, text=body, headers={"Content-Type": "application/json"})

    @staticmethod
    def _rpc(function: str, arguments: dict):
        if not _NAME.match(function) or not all(_NAME.match(name) for name in arguments):
            raise ValueError("bad function or argument name")
        call = sql.SQL("SELECT to_json({}({}))::text").format(
            sql.Identifier("public", function),
            sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in arguments),
        )
        # A JSON object argument reaches a jsonb parameter as PostgREST hands it over: as jsonb.
        return call, {name: Jsonb(value) if isinstance(value, dict) else value for name, value in arguments.items()}

    @staticmethod
    def _table(request: httpx.Request, table: str):
        columns, limit, where, values = [sql.SQL("*")], None, [], []
        for name, value in request.url.params.multi_items():
            if name == "select":
                columns = [sql.Identifier(column) for column in value.split(",") if _NAME.match(column)]
            elif name == "limit":
                limit = int(value)
            elif _NAME.match(name) and value.startswith("eq."):
                where.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                values.append(value[3:])
            else:
                raise ValueError(f"unsupported query parameter {name}={value}")
        condition = sql.SQL(" AND ").join(where) if where else sql.SQL("true")
        if request.method == "GET":
            rows = sql.SQL("SELECT {} FROM {} WHERE {}{}").format(
                sql.SQL(", ").join(columns), sql.Identifier("public", table), condition,
                sql.SQL(" LIMIT {}").format(sql.Literal(limit)) if limit is not None else sql.SQL(""),
            )
        else:
            if not where:
                raise ValueError("DELETE requires a filter")  # as Supabase's safeupdate does
            rows = sql.SQL("DELETE FROM {} WHERE {} RETURNING {}").format(
                sql.Identifier("public", table), condition, sql.SQL(", ").join(columns)
            )
        query = sql.SQL("WITH r AS ({}) SELECT coalesce(json_agg(r), '[]')::text FROM r").format(rows)
        return query, values


@pytest.fixture
def postgrest(pg_dsn):
    shim = PostgrestShim(pg_dsn, SERVICE_KEY)
    yield shim
    shim.close()
