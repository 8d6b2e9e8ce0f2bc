"""The TypeScript client (clients/typescript): its generated types are openapi.json's, it and the apps'
example calls type-check, its own tests pass, and the purchase walks through it against gunicorn.

Skipped without Node or without the package's npm dependencies (`npm ci`, which `make test` and
`make client` run where npm is), unless TATAME_REQUIRE_NODE=1 (CI), which turns each skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.servers import ROOT, Gunicorn

CLIENT = ROOT / "clients" / "typescript"
OFFLINE = {"STRIPE_SECRET_KEY": "", "STRIPE_API_BASE": "", "STRIPE_WEBHOOK_SECRET": "", "CLERK_JWT_KEY": "",
           "CLERK_JWKS_URL": "", "CLERK_PUBLISHABLE_KEY": "", "CLERK_SECRET_KEY": "", "SUPABASE_URL": "",
           "SUPABASE_SERVICE_ROLE_KEY": "", "REDIS_URL": ""}


def unavailable(message: str) -> None:
    if os.environ.get("TATAME_REQUIRE_NODE") == "1":
        pytest.fail(f"{message}, and TATAME_REQUIRE_NODE=1 requires it")
    pytest.skip(message)


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        unavailable("node is not installed (Debian packages: nodejs npm)")
    if not (CLIENT / "node_modules" / "typescript").is_dir() or not (CLIENT / "node_modules" / "openapi-fetch").is_dir():
        unavailable("clients/typescript has no node_modules: `make test` or `make client` installs them with npm")
    return path


def run(node: str, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([node, *args], cwd=CLIENT, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def tsc(node: str, *args: str) -> subprocess.CompletedProcess:
    return run(node, "node_modules/typescript/bin/tsc", *args)


@pytest.fixture(scope="module")
def compiled(node) -> Path:
    """The node tests compiled with the package's sources, inside the package (so node_modules resolves)."""
    (CLIENT / ".build").mkdir(exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="pytest-", dir=CLIENT / ".build"))
    done = tsc(node, "-p", "test/tsconfig.json", "--outDir", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    yield out / "test"
    shutil.rmtree(out, ignore_errors=True)


def node_test(node: str, test_file: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run(node, "--test", "--test-reporter=spec", str(test_file), env=env)


def test_committed_types_are_generated_from_openapi_json(node, tmp_path):
    fresh = tmp_path / "openapi.ts"
    done = run(node, "scripts/generate.mjs", str(fresh))
    assert done.returncode == 0, done.stdout + done.stderr
    committed = (CLIENT / "src" / "openapi.ts").read_text()
    assert fresh.read_text() == committed, "clients/typescript/src/openapi.ts differs from openapi.json: run `make client`"


def test_the_package_and_the_apps_example_calls_type_check(node):
    done = tsc(node, "--noEmit", "-p", "examples/tsconfig.json", "--listFiles")
    files = [line.split("clients/typescript/")[-1] for line in done.stdout.splitlines() if line.startswith("/")]
    ours = sorted(name for name in files if "node_modules" not in name)
    errors = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("/"))
    print(f"tsc --noEmit -p examples/tsconfig.json: exit {done.returncode}, {len(files)} files checked, ours: {', '.join(ours)}")
    print(errors + done.stderr)
    assert {"src/index.ts", "src/openapi.ts", "examples/web-checkout.ts", "examples/mobile-payment-sheet.ts",
            "examples/invoices.ts"} <= set(ours)
    assert done.returncode == 0, errors + done.stderr


def test_the_clients_own_behaviour(node, compiled):
    done = node_test(node, compiled / "client.test.js")
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"pass (\d+)", done.stdout)
    assert passed and int(passed.group(1)) >= 12 and "fail 0" in done.stdout, done.stdout


def flask(folder: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "INSTANCE_PATH": str(folder), **OFFLINE}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_purchase_walks_through_the_client_against_gunicorn(node, compiled, tmp_path):
    # `flask token` (what `make token` runs) starts while gunicorn does: both read the instance folder's keys.
    minting = flask(tmp_path, "token", "--user", "user_ts_walk")
    server = None
    try:
        server = Gunicorn(OFFLINE, tmp_path, workers=2)
        out, err = minting.communicate(timeout=60)
        assert minting.returncode == 0, out + err
        done = node_test(node, compiled / "purchase-walk.test.js",
                         env={"TATAME_API_URL": server.url, "TATAME_TOKEN": out.strip()})
        print(done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr + server.logs()[-3000:]
        assert "walk: cancelled" in done.stdout, done.stdout
        assert "Traceback" not in server.logs(), server.logs()[-3000:]
    finally:
        if minting.poll() is None:
            minting.kill()
            minting.wait()
        if server is not None:
            server.stop()
