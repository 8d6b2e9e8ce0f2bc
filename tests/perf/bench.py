"""`make bench`: the app under gunicorn against a bare Flask ceiling, in one run.

(a) a bare Flask "hello" app, (b) GET /, (c) GET /stripe/products with a valid token and a warm
cache (Stripe faked over HTTP, its calls counted), (d) POST /webhooks/stripe with distinct signed
events on the embedded store, (e) (c) revalidated with If-None-Match (304), (f) GET
/stripe/subscription, (c0) (c) without the access line. Each under the repository's own gunicorn
settings and logging (gunicorn.conf.py, as `make serve` and Railway run it), on --server-python (make bench:
.venv-deploy, built from requirements.txt alone, as a deployment installs it), driven by wrk when
installed, else by a Python load generator. Prints requests/s, p50/p99, the ratios to (a) against
their targets, Stripe calls during (c) and (f), worker memory, the access line's cost, and the time
from process start to the first answer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.sample_events import sample_event
from app.services.webhook_signature import sign_header
from tests.servers import SandboxStripeServer, Gunicorn

HERE = Path(__file__).resolve().parent
SECRET = "whsec_bench_secret_not_a_real_one"


def worker_memory(server: Gunicorn) -> tuple[float, float]:
    """(largest RSS, largest PSS) of the workers, in MB. PSS splits pages shared with the master fairly."""
    rss = pss = 0.0
    for pid in server.worker_pids():
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = max(rss, int(line.split()[1]) / 1024)
            elif line.startswith("Pss:"):
                pss = max(pss, int(line.split()[1]) / 1024)
    return rss, pss


def run_wrk(url: str, duration: int, connections: int, headers: dict, script: list[str] | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script[0], url, "--", *script[1:]]
    else:
        command.append(url)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": latency("50"), "p99": latency("99"),
            "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)}


def run_python(url: str, duration: int, connections: int, headers: dict, bodies: list[tuple[str, bytes]] | None = None):
    """A keep-alive load generator in threads, for machines without wrk."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1] if url.count("/") > 2 else "/"
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    counter = iter(range(10**9))

    def client():
        nonlocal errors
        conn = http.client.HTTPConnection(host, int(port))
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            if bodies:
                signature, body = bodies[next(counter) % len(bodies)]
                conn.request("POST", "/webhooks/stripe", body,
                             {**headers, "Stripe-Signature": signature, "Content-Type": "application/json"})
            else:
                conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status >= 300:
                with lock:
                    errors += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    quantiles = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / duration, "p50": quantiles[49] * 1000, "p99": quantiles[98] * 1000,
            "errors": errors}


def first_answer_seconds(env: dict, folder: Path, app: str, python: str) -> float:
    """From spawning gunicorn to the first 200 on GET /."""
    started = time.monotonic()
    server = Gunicorn(env, folder, app=app, workers=int(env.get("WEB_CONCURRENCY", 2)), python=python)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=1)
                conn.request("GET", "/")
                if conn.getresponse().status == 200:
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.01)
    finally:
        server.stop()


def measure(app, path, headers, kind, env, folder, stripe, events_file, bodies, args, use_wrk, workers, threads):
    """One scenario on a fresh gunicorn: warm it up unmeasured, then load it and read its workers' memory."""
    server = Gunicorn(env, folder, app=app, workers=workers, threads=threads, python=args.server_python)
    try:
        url = server.url + path
        # Warm-up under the same load (every worker: imports done, keys loaded, cache filled), unmeasured.
        warm_path = path if kind in (None, "revalidate") else "/"
        if use_wrk:
            run_wrk(server.url + warm_path, 2, args.connections, headers)
        else:
            run_python(server.url + warm_path, 2, args.connections, headers)
        for _ in range(20 * workers):  # and fresh connections, which the kernel spreads over the workers
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            conn.request("GET", warm_path, headers={**headers, "Connection": "close"})
            conn.getresponse().read()
            conn.close()
        if kind == "revalidate":  # the app already has the page: it asks with the ETag it was given
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            answer.read()
            headers, kind = {**headers, "If-None-Match": answer.getheader("ETag")}, None
            conn.close()
        stripe_before = len(stripe.requests)
        if use_wrk:
            script = [str(HERE / "webhooks.lua"), str(events_file), "2"] if kind else None
            result = run_wrk(url, args.duration, args.connections, headers, script)
        else:
            result = run_python(url, args.duration, args.connections, headers, bodies if kind else None)
        result["stripe_calls"] = len(stripe.requests) - stripe_before
        result["rss"], result["pss"] = worker_memory(server)
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a)-(d); the median of each is reported")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=80_000, help="distinct signed events prepared for (d)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the app under test, e.g. ACCESS_LOG=false")
    parser.add_argument("--server-python", default=sys.executable, metavar="PATH",
                        help="the interpreter the servers run on (make bench: .venv-deploy's, requirements.txt alone)")
    parser.add_argument("--only", default="", metavar="a,b,...",
                        help="run only these scenarios (with (a), the ceiling), to iterate on one; targets need all")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    settings = runpy.run_path(str(HERE.parent.parent / "gunicorn.conf.py"))  # the very settings `make serve` uses
    workers, threads, worker_class = str(settings["workers"]), str(settings["threads"]), settings["worker_class"]

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    token = jwt.encode({"sub": "user_bench", "exp": int(time.time()) + 3600, "iat": int(time.time())}, key,
                       algorithm="RS256", headers={"kid": "bench"})
    folder = Path(tempfile.mkdtemp(prefix="tatame-bench-"))
    # Ten small plans, each with its price (what (c) lists and JSON-encodes on every request).
    stripe = SandboxStripeServer(catalog={
        "products": [{"id": f"prod_bench_{i}", "object": "product", "active": True, "name": f"Plan {i}",
                      "created": 1767225600 + i, "default_price": f"price_bench_{i}"} for i in range(10)],
        "prices": [{"id": f"price_bench_{i}", "object": "price", "active": True, "unit_amount": 1000 * i,
                    "currency": "brl", "type": "one_time", "product": f"prod_bench_{i}",
                    "created": 1767225600 + i} for i in range(10)],
    })
    env = {"STRIPE_SECRET_KEY": "sk_test_bench_not_a_real_key", "STRIPE_API_BASE": stripe.url,
           "STRIPE_WEBHOOK_SECRET": SECRET, "CLERK_JWT_KEY": public, "SUPABASE_URL": "",
           "SUPABASE_SERVICE_ROLE_KEY": "", "REDIS_URL": "", "RATE_LIMIT_ENABLED": "false",
           "WEB_CONCURRENCY": workers, "GUNICORN_THREADS": threads}
    # As deployed: the repository's logging (INFO, the app's JSON access line, gunicorn's own access log off).
    env.update(dict(item.split("=", 1) for item in args.set))

    def signed_events(round_number: int) -> tuple[Path, list | None]:
        """Events no round has sent before: a repeat is answered as a duplicate, which is not ingest."""
        events_file = folder / f"events-{round_number}.tsv"
        with open(events_file, "w") as out:
            for _ in range(args.events):
                # customer.updated: what ingest itself costs (verify, claim, handle, record). Subscription, invoice
                # and checkout events also re-read the subscription from Stripe, a network wait, not our CPU.
                body = json.dumps(sample_event("customer.updated"))
                out.write(f"{sign_header(body.encode(), SECRET)}\t{body}\n")
        if use_wrk:
            return events_file, None
        return events_file, [(s, b.encode()) for s, b in (line.split("\t", 1)
                                                          for line in events_file.read_text().splitlines())]

    catalog = {"Authorization": f"Bearer {token}"}
    scenarios = [  # name, label, app, path, headers, kind, environment changes
        ("a", "bare Flask hello", "tests.perf.hello:app", "/", {}, None, {}),
        ("b", "GET /", "wsgi:app", "/", {}, None, {}),
        ("c", "GET /stripe/products (warm cache)", "wsgi:app", "/stripe/products", catalog, None, {}),
        # (c) without the app's JSON access line, right after (c): what that line costs, round by round.
        ("c0", "(c) with ACCESS_LOG=false", "wsgi:app", "/stripe/products", catalog, None, {"ACCESS_LOG": "false"}),
        ("d", "POST /webhooks/stripe (distinct events)", "wsgi:app", "/webhooks/stripe", {}, "events", {}),
        ("e", "GET /stripe/products, If-None-Match (304)", "wsgi:app", "/stripe/products", catalog, "revalidate", {}),
        ("f", "GET /stripe/subscription (the store, no Stripe)", "wsgi:app", "/stripe/subscription", catalog, None, {}),
    ]
    if args.only:
        wanted = {"a", *args.only.split(",")}
        scenarios = [scenario for scenario in scenarios if scenario[0] in wanted]
    runs: dict[str, list[dict]] = {name: [] for name, *_ in scenarios}
    shape = f"{workers} workers x {threads} threads" if worker_class == "gthread" else f"{workers} workers"
    print(f"bench: {os.cpu_count()} cores; gunicorn {worker_class}, {shape}, on {args.server_python}; "
          f"{args.connections} connections, {args.rounds} rounds of {args.duration} s per scenario; "
          f"load by {'wrk' if use_wrk else 'Python'} on the same machine", flush=True)
    for round_number in range(1, args.rounds + 1):
        events_file, bodies = signed_events(round_number) if "d" in runs else (None, None)
        for name, label, app, path, headers, kind, changes in scenarios:
            result = measure(app, path, headers, kind, {**env, **changes}, folder, stripe, events_file, bodies,
                             args, use_wrk, int(workers), int(threads))
            runs[name].append(result)
            print(f"  round {round_number} ({name}) {label}: {result['rps']:.0f} req/s", flush=True)
    results = {name: {key: statistics.median(r[key] for r in rs) for key in ("rps", "p50", "p99")}
               | {"errors": sum(r["errors"] for r in rs), "stripe_calls": sum(r["stripe_calls"] for r in rs),
                  "rss": max(r["rss"] for r in rs), "pss": max(r["pss"] for r in rs)}
               for name, rs in runs.items()}

    ceiling = results["a"]["rps"]
    print(f"\n{'':4}{'scenario':<42}{'req/s':>9}{'vs (a)':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'RSS MB':>8}{'PSS MB':>8}")
    for name, label, *_ in scenarios:
        r = results[name]
        print(f"({name}) {label:<42}{r['rps']:>9.0f}{r['rps'] / ceiling:>8.2f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
              f"{r['errors']:>8}{r['rss']:>8.1f}{r['pss']:>8.1f}")
    if args.only:
        stripe.stop()
        return 0
    print(f"\nStripe calls during (c): {results['c']['stripe_calls']}")
    # Paired: each round's (c) against the (c0) run just after it, then the median (runs drift by several %).
    access_cost = 1 - statistics.median(c["rps"] / c0["rps"] for c, c0 in zip(runs["c"], runs["c0"]))
    print(f"the access line's cost on (c): {access_cost:.1%} of the throughput without it (no target)")
    start = first_answer_seconds(env, folder, "wsgi:app", args.server_python)
    print(f"process start to first answer: {start:.2f} s")
    ratio = {name: results[name]["rps"] / ceiling for name in results}
    rss = max(r["rss"] for r in results.values())
    targets = [("(b) GET / >= 0.75 x (a)", f"{ratio['b']:.2f}", ratio["b"] >= 0.75),
               ("(c) cached catalog >= 0.6 x (a)", f"{ratio['c']:.2f}", ratio["c"] >= 0.6),
               ("(e) catalog 304 >= 0.7 x (a)", f"{ratio['e']:.2f}", ratio["e"] >= 0.7),
               ("(f) subscription >= 0.5 x (a)", f"{ratio['f']:.2f}", ratio["f"] >= 0.5),
               ("(d) webhook ingest >= 0.25 x (a)", f"{ratio['d']:.2f}", ratio["d"] >= 0.25),
               ("worker RSS <= 80 MB", f"{rss:.0f} MB", rss <= 80),
               ("zero Stripe calls in (c)", str(results["c"]["stripe_calls"]), results["c"]["stripe_calls"] == 0),
               ("zero Stripe calls in (f)", str(results["f"]["stripe_calls"]), results["f"]["stripe_calls"] == 0),
               ("first answer within 2 s", f"{start:.2f} s", start <= 2.0)]
    print("targets:")
    for label, value, ok in targets:
        print(f"  {label:<36}{value:>9}  {'met' if ok else 'MISSED'}")
    stripe.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
