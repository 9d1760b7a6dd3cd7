"""The loop's PostgreSQL side: its batch statements are prepared once per connection, a batch
owns its transaction, and a failed batch leaves nothing behind."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from psycopg import errors as pg_errors
from psycopg import pq

from orders import batch_store
from orders.models import EngineShard
from wallets.models import Balance, LedgerEntry


def _idle() -> bool:
    return connection.connection.pgconn.transaction_status == pq.TransactionStatus.IDLE


@pytest.mark.django_db(transaction=True)
def test_batch_statements_are_prepared_and_reused(django_user_model):
    """Django opens connections with prepared statements off; the batch statements must still be
    prepared, or PostgreSQL parses and plans them again for every batch."""
    user = django_user_model.objects.create(username="prepared")
    EngineShard.objects.create(shard=7, fence=3)
    for _ in range(3):
        batch_store.read_inputs(shard=7, fence=3, client_ids=[(user.pk, "c-1")], balance_keys=[(user.pk, "USDT")])
        batch_store.rollback()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = dict(cursor.fetchall())
    assert prepared["engine_read"] == 3  # prepared once, executed three times
    assert prepared["engine_guard"] == 3
    assert len(prepared) == 2  # and only what asks for it: Django's own queries stay unprepared


@pytest.mark.django_db(transaction=True)
def test_reads_find_used_client_ids_and_lock_balances(django_user_model):
    user = django_user_model.objects.create(username="reader")
    EngineShard.objects.create(shard=9, fence=1)
    Balance.objects.create(user=user, token="USDT", available="12.5", locked="0")
    known, available = batch_store.read_inputs(
        shard=9, fence=1, client_ids=[(user.pk, "nope")], balance_keys=[(user.pk, "USDT"), (user.pk, "BTC")]
    )
    assert known == {}
    assert available == {(user.pk, "USDT"): 12_500_000_000_000_000_000}
    assert not _idle()  # the batch's transaction is open, the balance row locked in it
    batch_store.rollback()
    assert _idle()


@pytest.mark.django_db(transaction=True)
def test_a_stale_fence_is_refused():
    EngineShard.objects.create(shard=8, fence=5)
    with pytest.raises(batch_store.StaleFence):
        batch_store.read_inputs(shard=8, fence=4, client_ids=[], balance_keys=[])
    batch_store.rollback()
    assert _idle()


@pytest.mark.django_db(transaction=True)
def test_a_batch_does_not_run_inside_another_transaction():
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        with pytest.raises(RuntimeError):
            batch_store.read_inputs(shard=1, fence=1, client_ids=[], balance_keys=[])
        cursor.execute("ROLLBACK")


@pytest.mark.django_db(transaction=True)
def test_a_failed_write_commits_nothing_and_leaves_the_connection_usable(django_user_model):
    """A balance that would go below zero fails the write; the COMMIT sent with it is skipped, and
    after ``rollback`` the connection is idle and the next batch runs."""
    user = django_user_model.objects.create(username="overdrawn")
    EngineShard.objects.create(shard=6, fence=2)
    Balance.objects.create(user=user, token="USDT", available="1", locked="0")
    batch_store.read_inputs(shard=6, fence=2, client_ids=[], balance_keys=[(user.pk, "USDT")])
    batch = batch_store.Batch(now=datetime.now(UTC))
    batch.deltas[(user.pk, "USDT")] = [-2 * 10**18, 0]
    with pytest.raises(pg_errors.CheckViolation):
        batch_store.write_and_commit(batch, specs={}, fee_user_id=0, ref="batch:6:2:0")
    batch_store.rollback()
    assert _idle()
    assert not LedgerEntry.objects.filter(ref="batch:6:2:0").exists()

    batch_store.read_inputs(shard=6, fence=2, client_ids=[], balance_keys=[(user.pk, "USDT")])
    batch.deltas[(user.pk, "USDT")] = [-(10**18) // 2, 10**18 // 2]
    batch_store.write_and_commit(batch, specs={}, fee_user_id=0, ref="batch:6:2:1")
    assert _idle()
    balance = Balance.objects.get(user=user, token="USDT")
    assert (str(balance.available.normalize()), str(balance.locked.normalize())) == ("0.5", "0.5")
    assert LedgerEntry.objects.filter(ref="batch:6:2:1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_is_replaced_after_rollback():
    """The batch statements bypass Django's cursors; a connection that died under them is closed
    by ``rollback`` and the next batch runs on a new one, its statements prepared again."""
    EngineShard.objects.create(shard=4, fence=1)
    batch_store.read_inputs(shard=4, fence=1, client_ids=[], balance_keys=[])
    batch_store.rollback()
    killed = connection.connection.info.backend_pid
    with psycopg.connect(connection.connection.info.dsn, autocommit=True) as other:  # another session ends it
        other.execute("SELECT pg_terminate_backend(%s)", [killed])
        for _ in range(500):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [killed]).fetchone():
                break
            time.sleep(0.01)
    with pytest.raises(psycopg.OperationalError):
        batch_store.read_inputs(shard=4, fence=1, client_ids=[], balance_keys=[])
    batch_store.rollback()
    batch_store.read_inputs(shard=4, fence=1, client_ids=[], balance_keys=[])
    assert connection.connection.info.backend_pid != killed
    batch_store.rollback()
