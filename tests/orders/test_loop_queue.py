"""The loop takes the next batch's commands in the same round trip as its answers; commands it
took but will not run go back to the head of the queue, in order."""

from __future__ import annotations

import orjson
import pytest
from django_redis import get_redis_connection

from orders.loop import ShardLoop
from orders.shards import queue_key, reply_key


@pytest.fixture
def redis():
    connection = get_redis_connection("default")
    connection.delete(queue_key(5))
    yield connection
    connection.delete(queue_key(5))


def test_answers_bring_back_the_next_commands_and_a_stop_puts_them_back(redis):
    loop = ShardLoop(5, batch_max=2)
    redis.rpush(queue_key(5), b"c1", b"c2", b"c3")
    loop._send_replies([("req-a", {"order": {"id": "x"}})], take_next=True)
    assert 0 < redis.ttl(reply_key("req-a")) <= 30
    assert orjson.loads(redis.lpop(reply_key("req-a"))) == {"order": {"id": "x"}}
    assert redis.lrange(queue_key(5), 0, -1) == [b"c3"]  # two taken: the batch bound
    loop._requeue_prefetched()
    assert redis.lrange(queue_key(5), 0, -1) == [b"c1", b"c2", b"c3"]


def test_taken_commands_come_first(redis):
    loop = ShardLoop(5, batch_max=10)
    redis.rpush(queue_key(5), b"c1")
    loop._send_replies([], take_next=True)
    redis.rpush(queue_key(5), b"c2")
    assert loop._take_queued() == [b"c1"]
    assert loop._take_queued() == [b"c2"]
    assert loop._take_queued() == []


def test_answers_that_found_the_queue_empty_spare_the_next_look(redis):
    loop = ShardLoop(5, batch_max=10)
    loop._send_replies([], take_next=True)  # nothing queued
    redis.rpush(queue_key(5), b"c1")
    assert loop._take_queued() == []  # not asked again right away: _pop waits for it instead
    assert loop._take_queued() == [b"c1"]


@pytest.mark.parametrize("blmpop", [True, False])
def test_pop_waits_for_a_batch(redis, blmpop):
    """In one call (BLMPOP) on Redis 7, in two on Redis 6.2 (the embedded server)."""
    loop = ShardLoop(5, batch_max=2)
    server_major = int(str(redis.info("server")["redis_version"]).split(".")[0])
    if blmpop and server_major < 7:
        pytest.skip("BLMPOP needs Redis 7")
    loop._blmpop = blmpop
    redis.rpush(queue_key(5), b"c1", b"c2", b"c3")
    assert loop._pop() == [b"c1", b"c2"]
    assert loop._pop() == [b"c3"]
    assert loop._pop() == []


def test_answers_survive_a_dropped_connection_and_a_missing_script(redis):
    """The answers go on the loop's own connection: one the server closed while idle is opened
    again, and a script Redis does not know (restarted, flushed) is loaded again."""
    loop = ShardLoop(5, batch_max=10)
    loop._send_replies([("req-b", {"order": {"id": "b"}})])
    client_id = loop._call("CLIENT", "ID")
    redis.execute_command("CLIENT", "KILL", "ID", client_id)
    loop._reply_sha = "0" * 40  # as if Redis had lost the script
    loop._send_replies([("req-c", {"order": {"id": "c"}})])
    assert orjson.loads(redis.lpop(reply_key("req-c"))) == {"order": {"id": "c"}}
    assert loop._call("CLIENT", "ID") != client_id
