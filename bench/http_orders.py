"""POST /spot/orders over HTTP: orders/s and latency with 32 concurrent clients.

Starts the HTTP server the way ``make run`` does (granian, ``--workers`` x ``--threads``; or
``--server gunicorn``, gthread) and one engine shard (``manage.py run_engine``) on a fresh database ``<name>_http`` beside DATABASE_URL, then 32 keep-alive clients (asyncio, one
user and JWT each) post a seeded mix of orders for ``--seconds``. Everything, the load
generator included, shares this machine's cores. Rate limits are lifted for the run.

    .venv/bin/python bench/http_orders.py [--seconds 15] [--clients 32] [--server granian|gunicorn]

Last line: ``http_orders orders_per_s=<int> p50_ms=<float> p99_ms=<float>``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

from common import ROOT, order_mix, percentile, prepare_market_and_users, setup_django, use_fresh_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def client(
    port: int, token: str, seed: int, stop_at: float, warm_until: float, latencies: list, codes: Counter
) -> None:
    import orjson

    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST /spot/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    try:
        while time.perf_counter() < stop_at:
            body = orjson.dumps(order_mix(rng))
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name = line[:16].lower()
                if name.startswith(b"content-length:"):
                    length = int(line[15:])
                elif name.startswith(b"connection:") and b"close" in line.lower():
                    close = True
            await reader.readexactly(length)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if started >= warm_until:
                status = int(status_line.split()[1])
                codes[status] += 1
                if status in (200, 201, 400):
                    latencies.append(elapsed_ms)
            if close:  # a server without keep-alive (gunicorn's sync workers): connect again
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def load(port: int, tokens: list[str], seconds: float, warmup: float) -> tuple[list[float], Counter, float]:
    latencies: list[float] = []
    codes: Counter = Counter()
    start = time.perf_counter()
    warm_until = start + warmup
    stop_at = warm_until + seconds
    await asyncio.gather(*[client(port, t, i, stop_at, warm_until, latencies, codes) for i, t in enumerate(tokens)])
    return latencies, codes, time.perf_counter() - warm_until


def wait_http(port: int, timeout_s: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become healthy")


def server_command(args: argparse.Namespace, binary: str, port: int) -> list[str]:
    if args.server == "granian":
        return [f"{binary}/granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(args.workers), "--blocking-threads", str(args.threads), "--log-level", "warning",
                "exchange.wsgi:application"]  # fmt: skip
    return [f"{binary}/gunicorn", "exchange.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
            "--log-level", "warning"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="granian")
    args = parser.parse_args()

    use_fresh_database("http")
    setup_django("benchhttp")
    from exchange.auth import mint_token

    users = prepare_market_and_users(args.clients)
    tokens = [mint_token(u.username, 3600)[0] for u in users]
    port = free_port()
    env = {**os.environ, "RATE_LIMIT_USER": "1000000/second", "RATE_LIMIT_KEY": "1000000/second",
           "ENGINE_SHARDS": "1", "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), "PORT": str(port)}  # fmt: skip
    binary = os.path.dirname(sys.executable)
    processes = [
        subprocess.Popen([sys.executable, "manage.py", "run_engine", "--shard", "0", "--wait"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(server_command(args, binary, port), cwd=ROOT, env=env),
    ]  # fmt: skip
    try:
        wait_http(port)
        latencies, codes, elapsed = asyncio.run(load(port, tokens, args.seconds, args.warmup))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(20)
    latencies.sort()
    answered = sum(codes[c] for c in (200, 201, 400))
    print(
        f"server={args.server} clients={args.clients} workers={args.workers}x{args.threads} seconds={elapsed:.1f} statuses={dict(codes)}"
    )
    print(f"http_orders orders_per_s={int(answered / elapsed)} p50_ms={percentile(latencies, 0.5):.2f} "
          f"p99_ms={percentile(latencies, 0.99):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
