"""Where a market's engine lives and the Redis keys of a shard.

A market belongs to exactly one shard: a stable hash (CRC32) of its symbol modulo
``ENGINE_SHARDS``. Keys share the deployment's prefix so test runs never meet a server's.
"""

from __future__ import annotations

import zlib

from exchange.conf import live


def shard_of(symbol: str, shards: int | None = None) -> int:
    return zlib.crc32(symbol.encode()) % (shards or live().ENGINE_SHARDS)


def queue_key(shard: int) -> str:
    return f"{live().REDIS_KEY_PREFIX}:engine:{shard}:queue"


def state_key(shard: int) -> str:
    """``up`` while the loop takes commands (expires without a heartbeat), ``restarting`` while it rebuilds."""
    return f"{live().REDIS_KEY_PREFIX}:engine:{shard}:state"


def lease_key(shard: int) -> str:
    return f"{live().REDIS_KEY_PREFIX}:engine:{shard}:lease"


def fence_key(shard: int) -> str:
    return f"{live().REDIS_KEY_PREFIX}:engine:{shard}:fence"


def reply_key(request_id: str) -> str:
    return f"{live().REDIS_KEY_PREFIX}:reply:{request_id}"


def depth_key(symbol: str) -> str:
    return f"{live().REDIS_KEY_PREFIX}:depth:{symbol}"


def celery_queue(shard: int) -> str:
    return f"engine.{shard}"
