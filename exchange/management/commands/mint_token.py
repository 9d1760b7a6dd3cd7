from django.core.management.base import BaseCommand, CommandParser

from exchange.auth import mint_token, user_for_sub


class Command(BaseCommand):
    help = "Print a JWT for a user (created if new), for operators and local testing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default JWT_TTL_S)")

    def handle(self, *args: object, username: str, ttl: int | None, **options: object) -> None:
        user_for_sub(username)
        token, _ = mint_token(username, ttl)
        self.stdout.write(token)
