"""The served application (exchange.rsgi) under granian, for real: the everyday order answered on
the event loop, the rest through Django in its threads, with the answers of the test client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests
from django.conf import settings
from django.db import connection

from orders.models import Order

ROOT = Path(__file__).resolve().parents[2]
ORDER = {"symbol": "BTC_USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(engine):
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CACHE_PREFIX": settings.REDIS_KEY_PREFIX,
        "ENGINE_SHARDS": str(settings.ENGINE_SHARDS),
        "WEB_THREADS": "4",
    }
    process = subprocess.Popen(
        [f"{Path(sys.executable).parent}/granian", "--interface", "rsgi", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--log-level", "warning", "exchange.rsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "granian exited"
            assert time.monotonic() < deadline, "granian did not answer /healthz"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(20)


def test_orders_and_everything_else_answer_as_through_the_test_client(server, market, funded):
    trader = funded(USDT="1000")
    auth = {"Authorization": f"Bearer {trader.token}"}
    session = requests.Session()
    # the first order of a fresh process looks its user and market up (a thread); the next run on the loop
    answers = [session.post(f"{server}/spot/orders", json=ORDER, headers=auth) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    placed = answers[-1].json()
    assert placed["status"] == "open" and placed["price"] == "100" and placed["quantity"] == "0.01"
    expected = trader.post("/spot/orders", ORDER)  # the test client's answer, for the headers
    served = {k.lower(): v for k, v in answers[-1].headers.items() if k.lower() not in ("date", "server")}
    assert served == {k.lower(): v for k, v in expected.items() if k.lower() != "content-length"} | {
        "content-length": str(len(answers[-1].content))
    }
    refused = session.post(f"{server}/spot/orders", json={**ORDER, "side": "x"}, headers=auth)
    assert (refused.status_code, refused.content) == (400, b'{"error":"invalid side"}')
    # a client_order_id is looked up in the database first: answered by the sync path, then repeated
    first = session.post(f"{server}/spot/orders", json={**ORDER, "client_order_id": "c-1"}, headers=auth)
    again = session.post(f"{server}/spot/orders", json={**ORDER, "client_order_id": "c-1"}, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["id"] == first.json()["id"]
    # Django's own: a read with a query string, one order by id, a bad token's 401
    listed = session.get(f"{server}/spot/orders", params={"symbol": "BTC_USDT", "limit": 10}, headers=auth)
    assert listed.status_code == 200 and len(listed.json()["results"]) == 5
    one = session.get(f"{server}/spot/orders/{placed['id']}", headers=auth)
    assert one.status_code == 200 and one.json()["id"] == placed["id"]
    denied = session.post(f"{server}/spot/orders", json=ORDER, headers={"Authorization": "Bearer nope"})
    assert (denied.status_code, denied.content, denied.headers["WWW-Authenticate"]) == (401, b"", "Bearer")
    missing = session.get(f"{server}/spot/orders/not%20an%20id", headers=auth)
    assert (missing.status_code, missing.content) == (400, b'{"error":"invalid id"}')
    assert Order.objects.filter(user_id=trader.user_id).count() == 5


def test_a_body_that_is_not_json_is_answered_as_django_answers_it(server, market, funded):
    trader = funded(USDT="1000")
    headers = {"Authorization": f"Bearer {trader.token}", "Content-Type": "application/json"}
    response = requests.post(f"{server}/spot/orders", data=b"not json", headers=headers)
    assert (response.status_code, orjson.loads(response.content)) == (404, {"error": "MARKET_NOT_FOUND"})
