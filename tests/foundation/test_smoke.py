from exchange import health


def test_healthz_answers_with_database_redis_and_engine_shards(client, db, monkeypatch):
    monkeypatch.setattr(health, "_probe", lambda: {"shard-0": "ok", "shard-1": "ok"})
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "database": "ok", "redis": "ok", "engine": {"shard-0": "ok", "shard-1": "ok"},
    }  # fmt: skip


def test_healthz_is_503_naming_a_shard_that_is_down(client, db, monkeypatch):
    monkeypatch.setattr(health, "_probe", lambda: {"shard-0": "ok", "shard-1": "restarting"})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "down", "database": "ok", "redis": "ok", "engine": {"shard-0": "ok", "shard-1": "restarting"},
    }  # fmt: skip


def test_markets_list_is_public(client, market):
    response = client.get("/spot/markets")
    assert response.status_code == 200
    assert response.json()[0]["symbol"] == "BTC_USDT"
    assert response.json()[0]["tick_size"] == "0.01"
