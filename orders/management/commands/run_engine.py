import signal
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.loop import ShardLoop


class Command(BaseCommand):
    help = "Run one engine shard's loop in the foreground (the same loop the Celery worker runs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", type=int, default=0)
        parser.add_argument(
            "--wait", action="store_true", help="wait for the shard's current owner to go away instead of exiting"
        )

    def handle(self, *args: object, shard: int, wait: bool, **options: object) -> None:
        loop = ShardLoop(shard, owns_process=True)
        while not loop.acquire():
            if not wait:
                raise CommandError(f"shard {shard} is owned by another live loop")
            time.sleep(0.2)
        signal.signal(signal.SIGTERM, lambda *_: loop.stop())
        signal.signal(signal.SIGINT, lambda *_: loop.stop())
        self.stdout.write(f"engine shard {shard} running (fence {loop.fence})")
        loop.run()
