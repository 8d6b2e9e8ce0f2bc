"""Real servers for tests: a throwaway redis-server, gunicorn running the app, the sandbox's Stripe over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from sandbox.stripe import SandboxStripe
from tests.sandbox_stripe import Observed

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


def need_binary(name: str, variable: str) -> str:
    """The binary's path; skip without it, or fail when `variable` says it must be there (CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package: {'redis-server' if 'redis' in name else name})"
        if os.environ.get(variable) == "1":
            pytest.fail(f"{message}, and {variable}=1 requires it")
        pytest.skip(message)
    return path


class RedisServer:
    def __init__(self, folder: Path):
        binary = need_binary("redis-server", "TATAME_REQUIRE_REDIS")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Gunicorn:
    """The app under gunicorn with several workers, as on Railway (`python`: the interpreter of the
    environment it runs in; the benchmark's is built from requirements.txt alone)."""

    def __init__(self, env: dict[str, str], folder: Path, app: str = "wsgi:app", workers: int = 4, threads: int = 8,
                 python: str = sys.executable):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"gunicorn-{self.port}.log"
        full_env = {
            "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
            "PORT": str(self.port), "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads),
            "INSTANCE_PATH": str(folder), "RATE_LIMIT_ENABLED": "false", "APP_ENV": "development",
            **env,
        }
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [python, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
             f"127.0.0.1:{self.port}", app],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process)

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


class SandboxStripeServer:
    """The sandbox's Stripe (sandbox/stripe) over real HTTP, for gunicorn tests and benchmarks.

    `.url` is its STRIPE_API_BASE; `.creations`, `.requests` and `.create_delay` are those of `.observed`
    (tests.sandbox_stripe.Observed). `catalog` replaces the fixture catalog ({"products", "prices"}).
    """

    def __init__(self, create_delay: float = 0.0, catalog: dict | None = None):
        fake = SandboxStripe(catalog_source=catalog) if catalog else SandboxStripe()
        self.observed = observed = Observed(fake, create_delay=create_delay)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects

            def log_message(self, *args):
                pass

            def _answer(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                params = self.rfile.read(length).decode() if self.command == "POST" else parts.query
                status, body = observed.handle(self.command, parts.path, params, dict(self.headers.items()))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def creations(self) -> int:
        return self.observed.creations

    @property
    def requests(self) -> list:
        return self.observed.requests

    @property
    def create_delay(self) -> float:
        return self.observed.create_delay

    @create_delay.setter
    def create_delay(self, seconds: float) -> None:
        self.observed.create_delay = seconds

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parallel(count: int, action) -> list:
    """Run `action(i)` in `count` threads released together; return the results in order.

    An exception in any thread fails the test, in the test's own thread."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = action(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def post_json(url: str, **kwargs) -> requests.Response:
    return requests.post(url, timeout=30, **kwargs)


def probe_essentials(url: str, worst: dict[str, float], failures: list[str]) -> None:
    """One round of what must always answer: liveness, readiness, a signed webhook (1 s timeout each).

    Records each one's time in `worst` (the largest seen) and anything but a 200 in `failures`."""
    from app.services.webhook_signature import sign_header
    from tests.conftest import WEBHOOK_SECRET, make_event

    body = json.dumps(make_event("customer.created")).encode()
    for name, call in (
        ("liveness", lambda: requests.get(f"{url}/", timeout=1)),
        ("readiness", lambda: requests.get(f"{url}/health/ready", timeout=1)),
        ("webhook", lambda: requests.post(f"{url}/webhooks/stripe", data=body, timeout=1, headers={
            "Stripe-Signature": sign_header(body, WEBHOOK_SECRET), "Content-Type": "application/json"})),
    ):
        started = time.monotonic()
        try:
            status = call().status_code
        except requests.RequestException as exc:
            failures.append(f"{name}: {type(exc).__name__}")
            continue
        worst[name] = max(worst.get(name, 0.0), time.monotonic() - started)
        if status != 200:
            failures.append(f"{name}: {status}")
