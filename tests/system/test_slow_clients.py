"""Slow clients and idle sockets cannot take an instance down (gunicorn as configured by gunicorn.conf.py).

A slowloris holds many sockets open, each sending part of a request and then a byte now and
then; others send whole headers and then a body that never ends, or nothing at all. Meanwhile
liveness, readiness and a signed webhook must keep answering within a second.
SLOW_CLIENT_SECONDS (default 8) sets how long the attack is held (the closing note used 60).
"""

import os
import socket
import threading
import time

import requests

from tests.servers import probe_essentials

HOLD_SECONDS = float(os.environ.get("SLOW_CLIENT_SECONDS", "8"))
PARTIAL_HEADERS, PARTIAL_BODIES, IDLE = 60, 30, 40


def _open(port: int, first: bytes) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        if first:
            sock.sendall(first)
        return sock
    except OSError:
        return None


def _attack(port: int, stop: threading.Event) -> list[socket.socket]:
    """Open every slow socket, then keep them trickling until `stop`; returns the sockets for closing."""
    sockets = []
    for i in range(PARTIAL_HEADERS):
        sockets.append(("header", _open(port, f"GET /health/ready HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ".encode())))
    for _ in range(PARTIAL_BODIES):
        head = (b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 50000\r\n\r\n{")
        sockets.append(("body", _open(port, head)))
    for _ in range(IDLE):
        sockets.append(("idle", _open(port, b"")))
    while not stop.wait(0.5):
        for kind, sock in sockets:
            if sock is not None and kind != "idle":
                try:
                    sock.send(b"a")  # one byte now and then: a per-read timeout alone never fires
                except OSError:
                    pass
    return [sock for _, sock in sockets if sock is not None]


def test_slow_and_idle_sockets_do_not_stop_health_readiness_or_webhooks(start_gunicorn):
    server = start_gunicorn(workers=3)  # the shipped defaults (gunicorn.conf.py)
    port = server.port
    stop = threading.Event()
    opened: list = []
    attacker = threading.Thread(target=lambda: opened.extend(_attack(port, stop)), daemon=True)
    attacker.start()
    time.sleep(2)  # let the attack take hold of whatever it can
    worst: dict[str, float] = {}
    failures: list[str] = []
    deadline = time.monotonic() + HOLD_SECONDS
    try:
        while time.monotonic() < deadline:
            probe_essentials(server.url, worst, failures)
            time.sleep(0.2)
    finally:
        stop.set()
        attacker.join(5)
        for sock in opened:
            sock.close()
    print(f"worst answer times under attack: {worst}")
    assert not failures, failures[:10]
    assert all(seconds < 1.0 for seconds in worst.values()), worst


def test_a_token_just_over_the_apps_limit_gets_the_apps_json_401_not_gunicorns_html(start_gunicorn):
    server = start_gunicorn(workers=1)
    for size in (8100, 8193, 12000):  # around the app's 8 KiB token limit
        response = requests.get(f"{server.url}/stripe/products", timeout=5,
                                headers={"Authorization": "Bearer " + "a" * size})
        assert response.status_code == 401, size
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
