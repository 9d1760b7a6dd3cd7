"""Withdrawal test fixtures: a local HTTP signer (a real server on 127.0.0.1, random port) and
Celery messages kept under this run's Redis prefix so no worker of a running server takes them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from exchange.celery import app
from tests.conftest import fund
from withdrawals.signer import LocalKeySigner, SignRequest

# Messages published by these tests land in Redis under the run's prefix (settings'
# CELERY_BROKER_TRANSPORT_OPTIONS; cleaned after each test by tests/conftest.py), not in a
# running server's ``default`` queue. Not eager mode: they are really published, and read back.
assert app.conf.broker_transport_options["global_keyprefix"] == f"{settings.REDIS_KEY_PREFIX}:celery:"

ADDRESS = "0x" + "ab" * 20


def queued_tasks() -> list[tuple[str, list[Any]]]:
    """(task name, args) of every message waiting on the ``default`` queue of this test run."""
    redis = get_redis_connection("default")
    messages = redis.lrange(f"{settings.REDIS_KEY_PREFIX}:celery:default", 0, -1)
    found = []
    for raw in reversed(messages):  # LPUSH: oldest last
        headers = json.loads(raw)["headers"]
        found.append((headers["task"], json.loads(headers["argsrepr"].replace("'", '"'))))
    return found


class SignerServer:
    """The remote signer's protocol (ADR 0004) with switchable behaviour per endpoint:
    ``ok``, ``fail`` (500), ``refuse`` (422), ``slow`` (answers after ``slow_s``), ``drop``
    (closes the connection without an answer)."""

    def __init__(self) -> None:
        self.health = "ok"
        self.signing = "ok"
        self.slow_s = 1.0
        self.calls: list[tuple[str, Any]] = []
        self.key = LocalKeySigner("remote-signer-test-key")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, mode: str, body: dict[str, Any]) -> None:
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "slow":
                    time.sleep(server.slow_s)
                status = {"ok": 200, "slow": 200, "fail": 500, "refuse": 422}[mode]
                payload = json.dumps(body if status == 200 else {"error": mode}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def do_GET(self) -> None:  # noqa: N802
                server.calls.append(("GET", self.path))
                self._answer(server.health, {"status": "ok"})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.calls.append(("POST", body))
                signed = server.key.sign(
                    SignRequest(body["withdrawal_id"], body["token"], Decimal(body["amount"]), body["address"])
                )
                self._answer(server.signing, {"signature": signed.signature, "tx_id": signed.tx_id})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def sign_calls(self) -> list[Any]:
        return [body for method, body in self.calls if method == "POST"]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def signer_server() -> Iterator[SignerServer]:
    server = SignerServer()
    yield server
    server.stop()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def remote_signer(settings: Any, signer_server: SignerServer) -> SignerServer:
    """Settings pointing at the local test signer, with a short timeout."""
    settings.SIGNER_URL = signer_server.url
    settings.SIGNER_TIMEOUT_S = 0.3
    return signer_server


@pytest.fixture
def holder(make_api: Any) -> Any:
    """A user with 100 DF."""
    api = make_api()
    fund(api.user_id, "DF", "100")
    return api
