"""Real servers for tests: a throwaway redis-server, gunicorn running the app, a fake Stripe over HTTP."""

from __future__ import annotations

import itertools
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
from urllib.parse import parse_qs, urlparse

import pytest
import requests

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
    """The app under gunicorn with several workers, as on Railway."""

    def __init__(self, env: dict[str, str], folder: Path, app: str = "wsgi:app", workers: int = 4, threads: int = 8):
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
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
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


class FakeStripe:
    """Stripe's customers and catalog endpoints over real HTTP, honouring idempotency keys."""

    def __init__(self, create_delay: float = 0.0):
        self.create_delay = create_delay
        self.catalog: list[dict] = []  # what /v1/products lists
        self.customers: dict[str, dict] = {}
        self.by_key: dict[str, dict] = {}
        self.creations = 0
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urlparse(self.path).path
                with fake._lock:
                    fake.requests.append(("GET", path))
                if path.startswith("/v1/customers/"):
                    customer = fake.customers.get(path.rsplit("/", 1)[1])
                    if customer is None:
                        return self._send(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
                    return self._send(200, customer)
                if path in ("/v1/products", "/v1/prices"):
                    data = fake.catalog if path == "/v1/products" else []
                    return self._send(200, {"object": "list", "data": data, "has_more": False, "url": path})
                self._send(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})

            def do_POST(self):
                body = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                key = self.headers.get("Idempotency-Key")
                time.sleep(fake.create_delay)
                with fake._lock:
                    fake.requests.append(("POST", self.path))
                    if key not in fake.by_key:
                        fake.creations += 1
                        customer = {"id": f"cus_fake_{next(fake._ids)}", "object": "customer",
                                    "metadata": {"clerk_user_id": body["metadata[clerk_user_id]"][0]}}
                        fake.customers[customer["id"]] = customer
                        fake.by_key[key] = (customer, body)
                    customer, first_body = fake.by_key[key]
                if first_body != body:  # Stripe refuses a key reused with other parameters
                    return self._send(400, {"error": {"type": "idempotency_error"}})
                self._send(200, customer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
