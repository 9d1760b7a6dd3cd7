"""The served application (granian's RSGI): the everyday order on the event loop, the rest in threads.

Under a WSGI server every request holds a thread for its whole life, and an order's life is
mostly the wait for the engine's answer; each blocked and woken thread cost the web tier more CPU
than the request's own Python (docs/decisions/0017). Here a worker's event loop runs the
everyday ``POST /spot/orders`` (``orders.hot_path.handle_async``) and awaits the engine's answer
without a thread. Every other request, and one the loop hands back (an API key not in the Redis cache,
a user or market not yet in the process's caches, a ``client_order_id``), is answered by ``exchange.wsgi``'s
application, the one a WSGI server runs, in a thread pool: Django, or the sync hot path, answer
it exactly as they do under gunicorn.

``make run`` serves this with ``granian --interface rsgi``; ``HTTP_SERVER=gunicorn`` serves the
WSGI application instead.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")

from django.db import close_old_connections  # noqa: E402

from exchange.wsgi import application as wsgi_application  # noqa: E402  (sets Django up)
from orders import hot_path  # noqa: E402

Answer = tuple[int, list[tuple[str, str]], bytes]
logger = logging.getLogger("django.request")


def environ_of(scope: Any, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an RSGI request (PEP 3333: the path as latin-1 text of its UTF-8
    bytes, repeated headers joined by commas)."""
    host, _, port = scope.server.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode().decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client, _, client_port = scope.client.rpartition(":")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client, client_port
    for name, value in scope.headers.items():
        if name == "content-type":
            key = "CONTENT_TYPE"
        elif name == "content-length":
            key = "CONTENT_LENGTH"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def run_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    """A WSGI application's whole answer (called in a worker thread)."""
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    return int(status.split(" ", 1)[0]), list(headers), b"".join(chunks)


def _with_connections(fn: Callable[[], Any]) -> Any:
    """``fn`` in a worker thread with a request's database hygiene (what Django's request signals
    do for its own requests)."""
    close_old_connections()
    try:
        return fn()
    finally:
        close_old_connections()


class Application:
    """The RSGI application: ``handle_async`` for what it takes, ``wsgi_app`` in a thread for the rest."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], threads: int) -> None:
        self.wsgi_app = wsgi_app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def in_thread(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` in a worker thread (the database), awaited."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, _with_connections, fn)

    async def answer(self, environ: dict[str, Any], body: bytes) -> Answer:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == hot_path.PATH:
            found = hot_path.admitted(environ)
            if found is not None:
                answer = await hot_path.handle_async(environ, found, body, self.in_thread)
                if answer is not None:
                    return answer
        return await asyncio.get_running_loop().run_in_executor(self.executor, run_wsgi, self.wsgi_app, environ)

    async def __call__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return  # no websockets here: granian closes the connection
        try:
            body = await protocol()
        except Exception:  # the client went away before its body arrived
            return
        try:
            status, headers, content = await self.answer(environ_of(scope, body), body)
        except Exception:  # a crash outside Django's own handling: logged and answered as Django does
            logger.exception("Internal Server Error: %s", scope.path)
            status, headers, content = 500, [("Content-Type", "text/html; charset=utf-8")], hot_path.SERVER_ERROR_BODY
        protocol.response_bytes(status, headers, content)


application = Application(wsgi_application, threads=int(os.environ.get("WEB_THREADS", "16")))
