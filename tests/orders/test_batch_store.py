"""The loop's PostgreSQL side: its batch statements are prepared once per connection."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from orders import batch_store
from orders.models import EngineShard


@pytest.mark.django_db(transaction=True)
def test_batch_statements_are_prepared_and_reused(django_user_model):
    """Django opens connections with prepared statements off; the batch statements must still be
    prepared, or PostgreSQL parses and plans them again for every batch."""
    user = django_user_model.objects.create(username="prepared")
    EngineShard.objects.create(shard=7, fence=3)
    for _ in range(3):
        with transaction.atomic():
            batch_store.read_inputs(shard=7, fence=3, client_ids=[(user.pk, "c-1")], balance_keys=[(user.pk, "USDT")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    fence_checks = [runs for statement, runs in prepared if "UPDATE orders_engineshard" in statement]
    assert fence_checks == [3]  # prepared once, executed three times
    # and only what asks for it: Django's own queries on this connection stay unprepared
    assert not [statement for statement, _ in prepared if "auth_user" in statement]


@pytest.mark.django_db(transaction=True)
def test_a_stale_fence_is_refused():
    EngineShard.objects.create(shard=8, fence=5)
    with pytest.raises(batch_store.StaleFence), transaction.atomic():
        batch_store.read_inputs(shard=8, fence=4, client_ids=[], balance_keys=[])
