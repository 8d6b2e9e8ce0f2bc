def test_liveness(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.headers["X-Request-ID"]
