from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster


def test_health_reports_postgis(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] is True
    assert body["postgis_version"].startswith("3.")
    assert body["postgres_version"]


def test_health_is_503_while_the_database_is_down_and_recovers(spare_cluster: Cluster) -> None:
    spare_cluster.up()
    settings = Settings(data_dir=spare_cluster.base, db_port=spare_cluster.port)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        spare_cluster.down()
        down = client.get("/health")
        assert down.status_code == 503
        assert down.json()["database"] is False
        assert down.json()["reason"]
        spare_cluster.up()
        assert client.get("/health").status_code == 200


def test_health_is_503_for_an_unreachable_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql://nobody@/nowhere?host={tmp_path}&port=1"
    with TestClient(create_app(Settings(database_url=url))) as client:
        r = client.get("/health")
    assert r.status_code == 503
    assert "unavailable" in r.json()["reason"]


@pytest.mark.parametrize(
    "path",
    ["/health", "/collections/units/items", "/open311/v2/services.json", "/units/nearest"],
)
def test_a_503_does_not_show_where_the_database_is(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit saw the socket path (.../run/.s.PGSQL.5432) in 503 bodies: the client is told
    the service is unavailable, the operator's log has the detail."""
    url = f"postgresql://nobody@/nowhere?host={tmp_path}&port=1"
    params = {"lon": 126.6, "lat": 45.7, "category": "0101"} if "nearest" in path else None
    with TestClient(create_app(Settings(database_url=url))) as client:
        r = client.get(path, params=params)
    assert r.status_code == 503, r.text
    assert "unavailable" in r.text
    assert str(tmp_path) not in r.text and "PGSQL" not in r.text
    assert str(tmp_path) in caplog.text
