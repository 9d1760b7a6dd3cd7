def test_healthz_answers_with_database_and_redis(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["redis"] == "ok"


def test_markets_list_is_public(client, market):
    response = client.get("/spot/markets")
    assert response.status_code == 200
    assert response.json()[0]["symbol"] == "BTC_USDT"
    assert response.json()[0]["tick_size"] == "0.01"
