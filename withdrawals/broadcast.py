"""Broadcasting a signed withdrawal ("sent") and learning that it is confirmed ("completed").

There is no chain here, so ``LocalBroadcaster`` records the transaction in PostgreSQL (a
BroadcastTx row, in the caller's transaction) and counts it confirmed once recorded. A real
network client implements the same two methods; broadcasting must be idempotent by tx_id
(a chain refuses the same signed transaction twice), so a retried step is harmless.
"""

from __future__ import annotations

from typing import Protocol

from withdrawals.models import BroadcastTx, Withdrawal


class Broadcaster(Protocol):
    def broadcast(self, *, withdrawal: Withdrawal) -> None:
        """Hand the signed transaction to the network. Idempotent by tx_id."""
        ...

    def is_confirmed(self, *, tx_id: str) -> bool:
        """Whether the network has confirmed the transaction."""
        ...


class LocalBroadcaster:
    def broadcast(self, *, withdrawal: Withdrawal) -> None:
        assert withdrawal.tx_id and withdrawal.signature, withdrawal.pk
        BroadcastTx.objects.get_or_create(
            tx_id=withdrawal.tx_id, defaults={"withdrawal": withdrawal, "signature": withdrawal.signature}
        )

    def is_confirmed(self, *, tx_id: str) -> bool:
        return BroadcastTx.objects.filter(tx_id=tx_id).exists()


def get_broadcaster() -> Broadcaster:
    return LocalBroadcaster()
