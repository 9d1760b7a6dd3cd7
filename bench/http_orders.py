"""POST /spot/orders over HTTP: orders/s and latency with 32 concurrent clients.

Starts the HTTP server the way ``make run`` does (granian, ``--workers`` x ``--threads``; or
``--server gunicorn``, gthread) and one engine shard (``manage.py run_engine``) on a fresh database ``<name>_http`` beside DATABASE_URL, then 32 keep-alive clients (asyncio, one
user and JWT each) post a seeded mix of orders for ``--seconds``. Everything, the load
generator included, shares this machine's cores. Rate limits are lifted for the run.

    .venv/bin/python bench/http_orders.py [--seconds 15] [--clients 32] [--server granian|gunicorn] [--rate R]

By default each client posts its next order as soon as the last is answered (closed loop: the
figure is the most the server takes, and then p50 is about clients / throughput by Little's law,
32 / 3000 = 10.7 ms at 3,000/s). ``--rate R`` paces the clients to R orders/s together instead,
which shows the latency at a given load.

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

from common import ROOT, CpuMeter, order_mix, percentile, prepare_market_and_users, setup_django, use_fresh_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client(asyncio.Protocol):
    """One keep-alive connection posting orders one after another (a protocol, not streams: the
    load generator shares the machine's two cores with the server, so it parses answers cheaply)."""

    def __init__(
        self, token: str, seed: int, stop_at: float, warm_until: float, latencies: list, codes: Counter,
        interval_s: float = 0.0,
    ) -> None:  # fmt: skip
        import orjson

        self.dumps = orjson.dumps
        self.rng = random.Random(seed)
        self.head = (f"POST /spot/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\n").encode()  # fmt: skip
        self.stop_at, self.warm_until = stop_at, warm_until
        self.latencies, self.codes = latencies, codes
        self.buffer = b""
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.reconnect = False
        # Paced (--rate): one request every interval_s, the clients staggered; latency counts from
        # when a request was due, so a server that falls behind is not flattered by the clients
        # waiting for it (no coordinated omission).
        self.interval_s = interval_s
        self.due = time.perf_counter() + interval_s * self.rng.random()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.next()

    def next(self) -> None:
        if not self.interval_s:
            self.send()
            return
        wait_s = self.due - time.perf_counter()
        if wait_s > 0:
            asyncio.get_running_loop().call_later(wait_s, self.send)
        else:
            self.send()

    def send(self) -> None:
        body = self.dumps(order_mix(self.rng))
        self.started = time.perf_counter()
        if self.interval_s:
            self.started = min(self.started, self.due)
            self.due += self.interval_s
        self.transport.write(b"%sContent-Length: %d\r\n\r\n%s" % (self.head, len(body), body))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length, at = 0, head.find(b"\r\ncontent-length:")
        if at >= 0:
            eol = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : eol if eol > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        now = time.perf_counter()
        if self.started >= self.warm_until:
            status = int(head[9:12])
            self.codes[status] += 1
            if status in (200, 201, 400):
                self.latencies.append((now - self.started) * 1000)
        if b"\r\nconnection: close" in head:  # a server without keep-alive (gunicorn's sync workers)
            self.transport.close()  # type: ignore[union-attr]
            self.reconnect = now < self.stop_at
            return
        if now < self.stop_at:
            self.next()
        else:
            self.transport.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.reconnect)


async def client(
    port: int, token: str, seed: int, stop_at: float, warm_until: float, latencies: list, codes: Counter,
    interval_s: float,
) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    protocol = Client(token, seed, stop_at, warm_until, latencies, codes, interval_s)
    while True:
        await loop.create_connection(lambda: protocol, "127.0.0.1", port)
        if not await protocol.done:
            return
        protocol.done = loop.create_future()
        protocol.reconnect = False


async def load(
    port: int, tokens: list[str], seconds: float, warmup: float, rate: float, meter: CpuMeter
) -> tuple[list[float], Counter, float]:
    latencies: list[float] = []
    codes: Counter = Counter()
    start = time.perf_counter()
    warm_until = start + warmup
    stop_at = warm_until + seconds
    interval_s = len(tokens) / rate if rate else 0.0
    asyncio.get_running_loop().call_later(warmup, meter.start)
    await asyncio.gather(
        *[client(port, t, i, stop_at, warm_until, latencies, codes, interval_s) for i, t in enumerate(tokens)]
    )
    meter.stop()
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
    if args.server == "granian" and args.interface == "rsgi":
        # the event loop answers the everyday order; WEB_THREADS (env) threads answer the rest
        return [f"{binary}/granian", "--interface", "rsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(args.workers), "--log-level", "warning", "exchange.rsgi:application"]  # fmt: skip
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
    parser.add_argument("--workers", type=int, default=None, help="default: 1 for granian RSGI, 2 otherwise")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="granian")
    parser.add_argument("--interface", choices=["rsgi", "wsgi"], default="rsgi", help="granian's (gunicorn: wsgi)")
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="orders/s offered by all clients together, paced (default: each client posts again as soon as answered)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 1 if args.server == "granian" and args.interface == "rsgi" else 2

    use_fresh_database("http")
    setup_django("benchhttp")
    from exchange.auth import mint_token

    users = prepare_market_and_users(args.clients)
    tokens = [mint_token(u.username, 3600)[0] for u in users]
    port = free_port()
    env = {**os.environ, "RATE_LIMIT_USER": "1000000/second", "RATE_LIMIT_KEY": "1000000/second",
           "ENGINE_SHARDS": "1", "WEB_THREADS": str(args.threads), "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), "PORT": str(port)}  # fmt: skip
    binary = os.path.dirname(sys.executable)
    processes = [
        subprocess.Popen([sys.executable, "manage.py", "run_engine", "--shard", "0", "--wait"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(server_command(args, binary, port), cwd=ROOT, env=env),
    ]  # fmt: skip
    try:
        wait_http(port)
        from django.db import connection
        from django_redis import get_redis_connection

        meter = CpuMeter({"web": processes[1].pid, "loop": processes[0].pid}, connection.settings_dict["NAME"],
                         get_redis_connection("default"))  # fmt: skip
        latencies, codes, elapsed = asyncio.run(load(port, tokens, args.seconds, args.warmup, args.rate, meter))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(20)
    latencies.sort()
    answered = sum(codes[c] for c in (200, 201, 400))
    offered = f"{args.rate:g}/s" if args.rate else "closed-loop"
    print(
        f"server={args.server}/{args.interface if args.server == 'granian' else 'wsgi'} clients={args.clients} workers={args.workers}x{args.threads} seconds={elapsed:.1f} "
        f"offered={offered} "
        f"statuses={dict(codes)}"
    )
    # CPU per answered order, by part (redis: the whole server, other clients of a shared one included)
    print(f"cpu_us_per_order {meter.per(answered)}")
    print(f"http_orders orders_per_s={int(answered / elapsed)} p50_ms={percentile(latencies, 0.5):.2f} "
          f"p99_ms={percentile(latencies, 0.99):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
