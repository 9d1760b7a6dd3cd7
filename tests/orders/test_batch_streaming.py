"""A batch longer than ``STREAM_EVERY`` sends its final rows (trades, orders already filled or
cancelled) while the engine runs the rest: what it leaves in PostgreSQL must be what one
statement at the end would have written."""

from __future__ import annotations

import uuid
from decimal import Decimal

import orjson
import pytest
from django_redis import get_redis_connection

from orders import batch_store, reconcile
from orders import loop as loop_module
from orders.loop import ShardLoop
from orders.models import Order, Trade
from orders.shards import reply_key

pytestmark = pytest.mark.django_db(transaction=True)


def place(user_id: int, side: str, kind: str, tif: str, price: str | None, quantity: str | None,
          quote: str | None = None, coid: str | None = None) -> dict:  # fmt: skip
    command = {"k": "place", "id": str(uuid.uuid4()), "u": user_id, "s": "BTC_USDT", "sd": side, "t": kind,
               "tif": tif, "p": price, "q": quantity, "qq": quote, "r": uuid.uuid4().hex}  # fmt: skip
    if coid is not None:
        command["coid"] = coid
    return command


def test_a_streamed_batch_writes_what_its_answers_say(market, funded, monkeypatch):
    monkeypatch.setattr(loop_module, "STREAM_EVERY", 3)
    streamed: list[int] = []  # orders and trades in each streamed statement
    add = batch_store._add

    def spy(pending, statements, *, sync):
        for statement, params in statements:
            if statement is batch_store.STREAM_ROWS:
                streamed.append(params[0].count(b",") + 1 if params[0] != b"{}" else 0)
        return add(pending, statements, sync=sync)

    monkeypatch.setattr(batch_store, "_add", spy)
    updated: list[bytes] = []  # orders updated by the final statement
    update_columns = batch_store._order_update_columns

    def spy_updates(batch, specs):
        columns = update_columns(batch, specs)
        updated.append(columns[0])
        return columns

    monkeypatch.setattr(batch_store, "_order_update_columns", spy_updates)
    makers = [funded(BTC="10", USDT="10000") for _ in range(3)]
    taker = funded(BTC="10", USDT="10000")
    loop = ShardLoop(0)
    assert loop.acquire()
    loop.start()
    commands = []
    for i, maker in enumerate(makers):  # resting orders, filled later in the batch (other parts)
        commands.append(place(maker.user_id, "sell", "limit", "gtc", f"10{i}", "0.5", coid=f'm-{i},"{{x}}\\'))
        commands.append(place(maker.user_id, "buy", "limit", "gtc", f"9{i}", "0.4"))
    commands += [
        place(taker.user_id, "buy", "limit", "ioc", "101.5", "0.7"),  # fills one and part of another
        place(taker.user_id, "buy", "market", "ioc", None, None, quote="30"),
        place(taker.user_id, "sell", "limit", "ioc", "50", "0.3"),
        place(taker.user_id, "sell", "limit", "gtc", "200", "0.2"),  # stays open
        place(taker.user_id, "sell", "market", "ioc", None, "0.9"),
        place(taker.user_id, "buy", "limit", "ioc", "1", "0.1"),  # cancelled at once, nothing filled
        place(taker.user_id, "buy", "limit", "gtc", "102.5", "2"),  # takes the rest, then rests
    ]
    loop._run_batch(commands)
    assert loop.batches == 1  # one batch, one transaction, committed

    redis = get_redis_connection("default")
    trade_ids = []
    for command in commands:
        order = orjson.loads(redis.lpop(reply_key(command["r"])))["order"]
        stored = Order.objects.get(id=command["id"])
        assert stored.client_order_id == command.get("coid")
        if order["status"] in ("filled", "cancelled"):  # final when answered: stored as answered
            assert (stored.status, stored.filled_quantity, stored.filled_quote, stored.fee) == (
                order["status"], Decimal(order["filled_quantity"]), Decimal(order["filled_quote"]),
                Decimal(order["fee"]),
            )  # fmt: skip
        # whatever came later, an order holds what its trades say
        as_maker = Trade.objects.filter(maker_order_id=stored.id)
        as_taker = Trade.objects.filter(taker_order_id=stored.id)
        assert stored.filled_quantity == sum(t.quantity for t in [*as_maker, *as_taker])
        assert stored.filled_quote == sum(t.quote_quantity for t in [*as_maker, *as_taker])
        assert stored.fee == sum(t.maker_fee for t in as_maker) + sum(t.taker_fee for t in as_taker)
        if stored.type == "limit" and stored.tif == "gtc":
            filled = stored.filled_quantity == stored.quantity
            assert stored.status == ("filled" if filled else "partially_filled" if stored.filled_quantity else "open")
        trade_ids += [fill["trade_id"] for fill in order["fills"]]
    assert sorted(trade_ids) == sorted(str(t) for t in Trade.objects.values_list("id", flat=True))
    assert len(trade_ids) > 3
    assert len(streamed) >= 2 and sum(streamed) >= 3  # the rows did go in parts
    assert updated != [b"{}"]  # orders streamed while resting and filled later: updated at the end
    assert all(o.updated_at >= o.created_at for o in Order.objects.all())
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"filled", "cancelled", "open", "partially_filled"} <= statuses
    assert reconcile.run_all() == []
    loop.release()


def test_a_failed_streamed_statement_commits_nothing(market, django_user_model):
    """A streamed part that fails makes PostgreSQL skip the rest of the pipeline, the final write
    and its COMMIT included; ``rollback`` leaves nothing behind and the next batch runs."""
    from datetime import UTC, datetime

    from django.db import connection

    from orders.models import EngineShard

    user = django_user_model.objects.create(username="streamer")
    EngineShard.objects.create(shard=5, fence=1)
    batch_store.read_inputs(shard=5, fence=1, client_ids=[], balance_keys=[])
    batch = batch_store.Batch(now=datetime.now(UTC))
    command = {"k": "place", "id": str(uuid.uuid4()), "u": user.pk, "s": "BTC_USDT", "sd": "up", "t": "limit",
               "tif": "gtc", "p": "1", "q": "1", "qq": None}  # fmt: skip
    batch.new_orders[command["id"]] = (command, 1)
    batch.created_us[command["id"]] = batch.now_us
    batch.order_state[command["id"]] = ("BTC_USDT", "cancelled", 0, 0, 0, 0)
    specs = {"BTC_USDT": loop_module.market_spec(market)}
    batch_store.stream_rows(batch, specs)  # on its way: fails the side CHECK ("up")
    assert batch.pending is not None
    with pytest.raises(Exception, match="order_side_valid"):
        batch_store.wait_commit(batch_store.send_write(batch, specs=specs, fee_user_id=0, ref="batch:5:1:0"))
    batch_store.rollback(batch)
    assert not Order.objects.exists()
    assert connection.connection.pgconn.transaction_status == 0  # idle
    batch_store.read_inputs(shard=5, fence=1, client_ids=[], balance_keys=[])
    batch_store.wait_commit(batch_store.send_write(batch_store.Batch(now=datetime.now(UTC)), specs=specs,
                                                   fee_user_id=0, ref="batch:5:1:1"))  # fmt: skip
