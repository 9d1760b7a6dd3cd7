"""A loop that owns its process (the Celery task, ``run_engine``) turns automatic cycle collection
off and collects every ``COLLECT_EVERY_S`` between batches; a loop sharing its process leaves the
collector as it found it."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from orders import loop as loop_module
from orders.loop import ShardLoop
from orders.shards import shard_of
from tests.orders.conftest import wait_for


class Node:
    """Something the collector tracks, made into a cycle that only the collector can free."""

    def __init__(self) -> None:
        self.me = self


def garbage_cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


def run_in_thread(loop: ShardLoop) -> threading.Thread:
    assert loop.acquire()
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    wait_for(lambda: loop.started, what="loop up")
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_loop_owning_its_process_collects_on_its_own_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gc.isenabled()
    monkeypatch.setattr(loop_module, "COLLECT_EVERY_S", 3600.0)
    loop = ShardLoop(6, owns_process=True)
    thread = run_in_thread(loop)
    try:
        assert not gc.isenabled()
        cycle = garbage_cycle()
        churn = [[i] for i in range(20_000)]  # would set off the automatic collector many times over
        del churn
        assert cycle() is not None  # nobody collected it
        frozen = gc.get_freeze_count()
        monkeypatch.setattr(loop_module, "COLLECT_EVERY_S", 0.05)
        wait_for(lambda: cycle() is None, what="the loop's collection")
        assert gc.get_freeze_count() > frozen  # the survivors frozen
    finally:
        loop.stop()
        thread.join(timeout=10)
    assert gc.isenabled()  # given back as found


@pytest.mark.django_db(transaction=True)
def test_a_loop_sharing_its_process_leaves_the_collector_alone() -> None:
    loop = ShardLoop(6)
    thread = run_in_thread(loop)
    try:
        assert gc.isenabled()
    finally:
        loop.stop()
        thread.join(timeout=10)
    assert gc.isenabled()


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_frees_the_book_it_replaces(market, make_api) -> None:
    """A book's orders link to each other both ways (cycles only the collector frees), and the
    rebuild froze the book it made: the next rebuild must unfreeze before it collects, or every
    rebuild (one per failed batch) would keep the replaced book in memory for good."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from orders.models import Order

    user_id = make_api().user_id
    now = datetime.now(UTC)
    Order.objects.bulk_create(
        Order(market_id="BTC_USDT", user_id=user_id, side="buy", type="limit", tif="gtc", price=Decimal("100.00"),
              quantity=Decimal("0.001"), status="open", seq=seq, created_at=now, updated_at=now)
        for seq in range(1, 2001)
    )  # fmt: skip
    loop = ShardLoop(shard_of("BTC_USDT"))
    loop.rebuild()
    assert loop.engine is not None and loop.engine.open_order_count == 2000
    after_first = gc.get_freeze_count()
    loop.rebuild()
    # The second book is as big as the first, so the frozen set stays about the same size;
    # had the first book stayed frozen, it would have grown by 2,000 orders and more.
    assert gc.get_freeze_count() < after_first + 1000
