import sys

from django.core.management.base import BaseCommand

from orders.reconcile import run_all


class Command(BaseCommand):
    help = (
        "Check that locked funds equal what open orders and pending withdrawals hold, that the ledger "
        "sums to every balance, and that trading neither created nor destroyed money. Exits 1 if not."
    )

    def handle(self, *args: object, **options: object) -> None:
        problems = run_all()
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            self.stdout.write(f"{len(problems)} problem(s)")
            sys.exit(1)
        self.stdout.write("reconcile: clean")
