"""One JSON access line per request, from the app: route templates, never raw paths or tokens."""

import json
import logging

from app import create_app
from tests.conftest import with_config


FIELDS = ("method", "route", "status", "duration_ms", "client", "user_agent", "clerk_user_id")


def access_lines(capsys):
    """The access lines the app wrote to stderr."""
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "app.access"]


def test_one_line_per_request_with_what_operators_search_by(client, auth_headers, sandbox_stripe, capsys):
    capsys.readouterr()
    headers = {**auth_headers("user_logged"), "User-Agent": "tatame-ios/2.1", "X-Request-ID": "req-abc-123"}
    client.get("/stripe/products/prod_demo_unlimited", headers=headers)
    client.get("/nowhere/at/all")
    client.get("/stripe/products", headers={"Authorization": "Bearer not-a-token"})
    lines = access_lines(capsys)
    assert len(lines) == 3 and all(set(FIELDS) <= set(line) for line in lines)
    first = lines[0]
    assert (first["method"], first["route"], first["status"]) == ("GET", "/stripe/products/<raw_id:product_id>", 200)
    assert first["request_id"] == "req-abc-123" and first["clerk_user_id"] == "user_logged"
    assert first["user_agent"] == "tatame-ios/2.1" and first["client"] == "127.0.0.1"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert (lines[1]["route"], lines[1]["status"]) == (None, 404)  # unknown paths: no route, no raw path
    assert (lines[2]["status"], lines[2]["clerk_user_id"]) == (401, None)
    text = json.dumps(lines)
    assert "prod_demo_unlimited" not in text and "Bearer" not in text and "not-a-token" not in text


def test_the_access_log_can_be_turned_off(config, capsys):
    client = create_app(with_config(config, access_log=False)).test_client()
    capsys.readouterr()
    client.get("/")
    assert access_lines(capsys) == []


def test_configured_secrets_never_reach_the_access_line(config, capsys):
    client = create_app(with_config(config, stripe_secret_key="sk_test_secret_in_a_user_agent")).test_client()
    capsys.readouterr()
    client.get("/", headers={"User-Agent": "curl sk_test_secret_in_a_user_agent"})
    (line,) = access_lines(capsys)
    assert "sk_test_secret_in_a_user_agent" not in json.dumps(line) and "[redacted]" in line["user_agent"]


def test_the_access_line_is_a_log_line_like_any_other_and_scrubbed_alike(config, capsys):
    """The same fields and the same scrubber as every log line: shaped secrets go, not only configured ones."""
    client = create_app(config).test_client()
    capsys.readouterr()
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    client.get("/", headers={"User-Agent": f"probe Bearer {jwt_like} pi_3abc_secret_XyZ123", "X-Request-ID": "r-1"})
    (line,) = access_lines(capsys)
    assert list(line)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert (line["level"], line["message"], line["request_id"]) == ("info", "request", "r-1")
    assert line["time"].endswith("+00:00") and len(line["time"]) == len("2026-12-04T13:50:04.551+00:00")
    assert jwt_like not in line["user_agent"] and "_secret_" not in line["user_agent"]
    assert line["user_agent"].startswith("probe [redacted]")


def test_what_a_client_chose_is_escaped_and_the_line_stays_one_json_object(config, capsys):
    client = create_app(with_config(config, trusted_proxy_hops=1)).test_client()
    capsys.readouterr()
    hostile = 'evil"}, "status": 200, "x": "\\ \xe9\x7f'
    client.get("/", headers={"User-Agent": hostile, "X-Forwarded-For": hostile})
    client.open("/", method="BREW")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if '"app.access"' in line]
    assert len(lines) == 2 and lines[0]["user_agent"] == hostile and lines[0]["client"] == hostile
    assert (lines[1]["method"], lines[1]["status"]) == ("BREW", 405)


def test_request_ids_differ_across_requests_and_forked_workers(client):
    import os

    ids = [client.get("/").headers["X-Request-ID"] for _ in range(50)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker forked from the same master: its ids must not repeat the master's next ones
        try:
            os.write(write, client.get("/").headers["X-Request-ID"].encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    parent_next = client.get("/").headers["X-Request-ID"]
    assert len(set(ids)) == 50 and len(child) == 32
    assert child[:16] != parent_next[:16] and child != parent_next  # its own prefix, not the master's counter


def test_buffered_lines_are_written_in_batches_and_never_left_behind(config, capsys):
    import time

    app = create_app(with_config(config, access_log_buffer=2000, access_log_flush=0.4))
    client = app.test_client()
    capsys.readouterr()
    client.get("/")
    assert access_lines(capsys) == []  # waiting for its batch
    time.sleep(0.8)  # a quiet moment: written within the flush interval all the same
    assert len(access_lines(capsys)) == 1
    for _ in range(12):  # ~330 bytes each: the buffer fills and is written without waiting
        client.get("/")
    assert 6 <= len(access_lines(capsys)) < 12
    for handler in logging.getLogger("app.access").handlers:
        handler.flush()  # what logging does for every handler at exit
    assert 0 < len(access_lines(capsys)) <= 6
