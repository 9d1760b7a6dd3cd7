"""``python manage.py serve``: migrate, load demo markets into an empty database, then run the
API (granian, or gunicorn with ``HTTP_SERVER=gunicorn``), the engine shard workers, the default
Celery worker and beat with honcho, in the foreground until Ctrl-C.

granian is the default because it measured faster on ``bench/http_orders.py`` (see the README's
performance section). It serves ``exchange.rsgi`` (orders on the event loop, the rest through the
WSGI application in threads); gunicorn serves the WSGI application."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


def web_command(bin_dir: Path, port: int, server: str, workers: int, threads: int) -> str:
    if server == "gunicorn":
        return (
            f"{bin_dir}/gunicorn exchange.wsgi:application --bind 127.0.0.1:{port} --workers {workers} "
            f"--worker-class gthread --threads {threads} --access-logfile - --graceful-timeout 10"
        )
    # RSGI: each worker's event loop answers the everyday order, WEB_THREADS threads the rest (ADR 0017)
    return (
        f"env WEB_THREADS={threads} {bin_dir}/granian --interface rsgi --host 127.0.0.1 --port {port} "
        f"--workers {workers} --log-level info exchange.rsgi:application"
    )


def procfile(port: int, shards: int, server: str, web_workers: int, web_threads: int) -> str:
    bin_dir = Path(sys.executable).parent
    lines = [
        f"web: {web_command(bin_dir, port, server, web_workers, web_threads)}",
        f"worker: {bin_dir}/celery -A exchange worker -Q default --concurrency 2 -n default@%h --loglevel INFO",
        f"beat: {bin_dir}/celery -A exchange beat --schedule {settings.VAR_DIR}/celerybeat-schedule --loglevel INFO",
    ]
    for shard in range(shards):
        lines.append(
            f"engine{shard}: {bin_dir}/celery -A exchange worker -Q engine.{shard} --pool solo --concurrency 1 "
            f"-n engine{shard}@%h --loglevel INFO"
        )
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Set up the database and serve the exchange (API, admin, engine workers) until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--server", choices=["granian", "gunicorn"], default=os.environ.get("HTTP_SERVER", "granian")
        )
        # granian: one event loop per worker, and one took the most orders on 2 cores (ADR 0017)
        parser.add_argument("--web-workers", type=int, default=None)
        parser.add_argument("--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", "16")))

    def handle(self, *args: object, server: str, web_workers: int | None, web_threads: int, **options: object) -> None:
        if web_workers is None:
            web_workers = int(os.environ.get("WEB_WORKERS") or (1 if server == "granian" else 2))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        call_command("collectstatic", interactive=False, verbosity=0)
        path = Path(settings.VAR_DIR) / "Procfile"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(procfile(settings.PORT, settings.ENGINE_SHARDS, server, web_workers, web_threads))
        self.stdout.write(f"serving on http://127.0.0.1:{settings.PORT}/ (admin at /admin/), Ctrl-C stops")
        honcho = str(Path(sys.executable).parent / "honcho")
        os.execv(honcho, [honcho, "-f", str(path), "-d", str(settings.BASE_DIR), "start"])
