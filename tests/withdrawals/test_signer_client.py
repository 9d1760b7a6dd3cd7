"""The signers themselves: the HTTP client against a real local server (answers, fails, times
out, is down), and the local Ed25519 key."""

from __future__ import annotations

import socket
import time
from decimal import Decimal
from http.server import ThreadingHTTPServer

import pytest
from cryptography.exceptions import InvalidSignature

from tests.withdrawals.conftest import ADDRESS, SignerServer, closed_port_url
from withdrawals.signer import (
    HttpSigner,
    LocalKeySigner,
    SignerOutcomeUnknown,
    SignerRefused,
    SignerUnreachable,
    SignRequest,
    get_signer,
)

REQUEST = SignRequest("7b1f6a44-3c1e-4d6e-9d0c-0a2b3c4d5e6f", "DF", Decimal("12.500"), ADDRESS)


def client(url: str, sleeps: list[float] | None = None) -> HttpSigner:
    return HttpSigner(url, timeout_s=0.3, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_answers_a_signature(signer_server):
    signed = client(signer_server.url).sign(REQUEST)
    assert signed == signer_server.key.sign(REQUEST)
    assert signer_server.sign_calls() == [
        {"withdrawal_id": REQUEST.withdrawal_id, "token": "DF", "amount": "12.5", "address": ADDRESS}
    ]
    client(signer_server.url).check_health()


def test_500_after_sending_is_an_unknown_outcome(signer_server):
    signer_server.signing = "fail"
    with pytest.raises(SignerOutcomeUnknown):
        client(signer_server.url).sign(REQUEST)
    assert len(signer_server.sign_calls()) == 1  # not retried


def test_4xx_is_a_refusal(signer_server):
    signer_server.signing = "refuse"
    with pytest.raises(SignerRefused):
        client(signer_server.url).sign(REQUEST)


def test_timeout_after_sending_is_an_unknown_outcome_and_not_retried(signer_server):
    signer_server.signing = "slow"
    started = time.monotonic()
    with pytest.raises(SignerOutcomeUnknown):
        client(signer_server.url).sign(REQUEST)
    assert time.monotonic() - started < signer_server.slow_s
    assert len(signer_server.sign_calls()) == 1


def test_connection_dropped_after_sending_is_an_unknown_outcome(signer_server):
    signer_server.signing = "drop"
    with pytest.raises(SignerOutcomeUnknown):
        client(signer_server.url).sign(REQUEST)
    assert len(signer_server.sign_calls()) == 1


def test_down_signer_is_retried_with_backoff_then_unreachable():
    sleeps: list[float] = []
    with pytest.raises(SignerUnreachable):
        client(closed_port_url(), sleeps).sign(REQUEST)
    assert sleeps == [0.1, 0.2]  # three attempts, exponential backoff between them
    with pytest.raises(SignerUnreachable):
        client(closed_port_url()).check_health()


def test_signer_coming_up_during_the_backoff_gets_the_request():
    url = closed_port_url()
    port = int(url.rsplit(":", 1)[1])
    servers: list[SignerServer] = []

    def start_server_on_that_port(seconds: float) -> None:
        if not servers:
            server = SignerServer()
            server.stop()  # rebind the same behaviour on the expected port
            server.httpd = ThreadingHTTPServer(("127.0.0.1", port), server.httpd.RequestHandlerClass)
            import threading

            threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
            servers.append(server)

    try:
        signed = HttpSigner(url, timeout_s=1.0, sleep=start_server_on_that_port).sign(REQUEST)
        assert signed == servers[0].key.sign(REQUEST)
        assert len(servers[0].sign_calls()) == 1
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("mode", ["fail", "slow", "drop", "refuse"])
def test_unhealthy_signer_is_unreachable(signer_server, mode):
    signer_server.health = mode
    with pytest.raises(SignerUnreachable):
        client(signer_server.url).check_health()


def test_unreadable_200_is_an_unknown_outcome():
    """A server that says 200 but sends no signature may still have signed."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        import threading

        def answer() -> None:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            conn.close()

        threading.Thread(target=answer, daemon=True).start()
        with pytest.raises(SignerOutcomeUnknown):
            client(url).sign(REQUEST)


def test_local_signer_signs_with_a_key_derived_from_settings():
    signer = LocalKeySigner("dev-key-material")
    signed = signer.sign(REQUEST)
    signer.public_key.verify(bytes.fromhex(signed.signature), REQUEST.message())
    assert signed == LocalKeySigner("dev-key-material").sign(REQUEST)  # deterministic (Ed25519)
    assert signed.tx_id.startswith("0x") and len(signed.tx_id) == 66
    with pytest.raises(InvalidSignature):
        LocalKeySigner("another-key").public_key.verify(bytes.fromhex(signed.signature), REQUEST.message())
    tampered = SignRequest(REQUEST.withdrawal_id, "DF", Decimal("12.6"), ADDRESS)
    with pytest.raises(InvalidSignature):
        signer.public_key.verify(bytes.fromhex(signed.signature), tampered.message())


def test_signer_is_chosen_by_signer_url(settings):
    settings.SIGNER_URL = ""
    assert isinstance(get_signer(), LocalKeySigner)
    settings.SIGNER_URL = "http://127.0.0.1:1"
    settings.SIGNER_TIMEOUT_S = 2.5
    signer = get_signer()
    assert isinstance(signer, HttpSigner) and signer.timeout_s == 2.5
