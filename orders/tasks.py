"""Celery side of the engine: each shard's loop is a long-running task on its own queue
(``engine.<n>``, a worker with concurrency 1), started when that worker is ready and
restarted by a watchdog (Celery beat) when its heartbeat is gone."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings
from django_redis import get_redis_connection

from exchange.celery import app
from orders.shards import celery_queue, lease_key, state_key

logger = logging.getLogger("orders.tasks")
KICK_TTL_S = 15  # one pending start per shard at a time

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "engine-watchdog": {"task": "orders.tasks.engine_watchdog", "schedule": 2.0, "options": {"queue": "default"}},
}


def _kick_key(shard: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:engine:{shard}:kick"


@shared_task(name="orders.tasks.run_engine_shard", acks_late=False, ignore_result=True)
def run_engine_shard(shard: int) -> str:
    """Own and run one shard's loop until the worker stops or the lease moves elsewhere."""
    from orders.loop import ShardLoop

    get_redis_connection("default").delete(_kick_key(shard))
    loop = ShardLoop(shard, owns_process=True)
    if not loop.acquire():
        return "shard owned elsewhere"
    _running_loops.append(loop)
    try:
        loop.run()
    finally:
        _running_loops.remove(loop)
    return "stopped"


_running_loops: list[Any] = []


@worker_shutting_down.connect
def _stop_loops(**kwargs: Any) -> None:
    """Warm shutdown (Ctrl-C, SIGTERM): let the loop finish its batch and hand the shard back."""
    for loop in list(_running_loops):
        loop.stop()


def start_shard(shard: int) -> bool:
    """Queue a start of the shard's loop unless one is already pending; True if queued."""
    if not get_redis_connection("default").set(_kick_key(shard), 1, nx=True, ex=KICK_TTL_S):
        return False
    run_engine_shard.apply_async(args=[shard], queue=celery_queue(shard))
    return True


@shared_task(name="orders.tasks.engine_watchdog", ignore_result=True)
def engine_watchdog() -> list[int]:
    """Start the loop of every shard that has neither a lease nor a heartbeat."""
    redis = get_redis_connection("default")
    started = []
    for shard in range(settings.ENGINE_SHARDS):
        if redis.exists(lease_key(shard)) or redis.exists(state_key(shard)):
            continue
        if start_shard(shard):
            logger.warning("engine shard %s has no live loop: start queued", shard)
            started.append(shard)
    return started


@worker_ready.connect
def _start_own_shards(sender: Any = None, **kwargs: Any) -> None:
    """A worker consuming ``engine.<n>`` starts that shard's loop as soon as it is ready."""
    consumed = getattr(getattr(getattr(sender, "app", None), "amqp", None), "queues", None)
    names = list(consumed.consume_from) if consumed is not None and consumed.consume_from else []
    for name in names:
        if name.startswith("engine."):
            shard = int(name.split(".", 1)[1])
            get_redis_connection("default").delete(_kick_key(shard))
            start_shard(shard)
