"""The registry's history through the service (issue 18): every admin write is recorded as made by the admin
token's name; ``GET /history`` lists the change sets, ``POST /history/{id}/undo`` undoes one. Undone in
reverse order, the API's edits give back the registry exactly, row by row over every stored column, and the
running service answers from the restored registry at once."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from geomap.api import create_app
from geomap.api.models import ChangeSetDetail, HistoryOut, UndoResult
from geomap.api.state import ServiceState
from geomap.cli.main import main
from geomap.stations import registry as registry_module
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
DATA = Path(__file__).resolve().parents[2] / "data"
TOKEN = "history-token-51c2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOKEN_NAME = "区总工会权益部"


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> ServiceState:
    ws = sample_workspace(tmp_path_factory.mktemp("history"), admin_token=TOKEN, admin_token_name=TOKEN_NAME)
    return ServiceState.load(ws, modes=["ebike"])


@pytest.fixture(scope="module")
def client(state) -> TestClient:
    return TestClient(create_app(state))


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """One second per write: every write has its own updated_at, so restoring it is a real check."""
    t0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    ticks = iter(range(10**6))
    monkeypatch.setattr(registry_module, "_now",
                        lambda: (t0 + timedelta(seconds=next(ticks))).isoformat(timespec="seconds"))


def _rows(state: ServiceState) -> list[tuple]:
    """Every stored column of every station (fid, geometry, values, updated_at) in fid order, by direct SQL."""
    with sqlite3.connect(state.registry.path) as con:
        return con.execute("SELECT * FROM stations ORDER BY fid").fetchall()


def _history(client: TestClient, limit: int = 50) -> list[dict]:
    r = client.get("/history", params={"limit": limit}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = HistoryOut.model_validate(r.json())
    assert body.count == len(body.changesets)
    return r.json()["changesets"]


def _undo(client: TestClient, changeset_id: int) -> dict:
    r = client.post(f"/history/{changeset_id}/undo", headers=AUTH)
    assert r.status_code == 200, r.text
    UndoResult.model_validate(r.json())
    return r.json()


def test_api_edits_undone_in_reverse_order_give_back_the_registry(client, state):
    rows0 = _rows(state)
    new = {"id": "HIST-1", "name": "历史测试驿站", "kinds": ["爱心驿站"], "lon": 121.5035, "lat": 31.2985,
           "crs": "gcj02", "opening_hours_raw": "24小时"}
    assert client.post("/stations", json=new, headers=AUTH).status_code == 201
    rows1 = _rows(state)
    yp001 = client.get("/stations/YP001").json()
    r = client.patch("/stations/YP001", json={"name": "改名测试", "lon": 121.52, "lat": 31.31, "crs": "gcj02"},
                     headers=AUTH)
    assert r.status_code == 200
    rows2 = _rows(state)
    assert client.delete("/stations/YP002", headers=AUTH).status_code == 200
    assert rows0 != rows1 != rows2 != _rows(state)

    deleted, patched, created = _history(client, limit=3)
    assert [c["action"] for c in (deleted, patched, created)] == ["delete", "update", "create"]
    assert {c["who"] for c in (deleted, patched, created)} == {TOKEN_NAME}
    assert {c["source"] for c in (deleted, patched, created)} == {"api"}
    assert (created["added"], patched["changed"], deleted["deleted"]) == (1, 1, 1)
    detail = client.get(f"/history/{patched['id']}", headers=AUTH)
    assert detail.status_code == 200
    ChangeSetDetail.model_validate(detail.json())
    (change,) = detail.json()["changes"]
    assert change["station_id"] == "YP001" and change["before"]["name"] == yp001["properties"]["name"]
    assert change["after"]["name"] == "改名测试" and set(change["fields"]) == {"name", "lon", "lat"}

    # undo the delete: the service serves YP002 again at once
    body = _undo(client, deleted["id"])
    assert _rows(state) == rows2
    assert body["undone"] == deleted["id"] and body["changeset"]["who"] == TOKEN_NAME
    assert body["changes"][0]["kind"] == "added" and body["stations"] == len(rows2)
    assert client.get("/stations/YP002").status_code == 200
    # undo the edit: YP001 has its name and place back
    _undo(client, patched["id"])
    assert _rows(state) == rows1
    got = client.get("/stations/YP001").json()
    assert got["properties"]["name"] == yp001["properties"]["name"]
    assert got["geometry"]["coordinates"] == yp001["geometry"]["coordinates"]
    # undo the create: the registry is exactly as before the three edits
    _undo(client, created["id"])
    assert _rows(state) == rows0
    assert client.get("/stations/HIST-1").status_code == 404
    assert client.get("/healthz").json()["stations"] == len(rows0)
    undos = _history(client, limit=3)
    assert [(c["action"], c["undoes"]) for c in undos] == [
        ("undo", created["id"]), ("undo", patched["id"]), ("undo", deleted["id"])]


def test_api_import_is_recorded_with_the_uploaded_name_and_undone(client, state):
    sample = pd.read_csv(DATA / "sample" / "yangpu_stations_gcj02.csv", encoding="utf-8-sig", dtype=str)
    lst = sample.head(2).copy()
    lst["编号"] = ["HIMP1", "HIMP2"]
    lst["名称"] = lst["名称"] + "（历史导入）"
    data = lst.to_csv(index=False).encode("utf-8")
    rows0 = _rows(state)

    def upload() -> None:
        r = client.post("/stations/import", files={"file": ("杨浦新名单.csv", io.BytesIO(data), "text/csv")},
                        data={"crs": "gcj02"}, headers=AUTH)
        assert r.status_code == 200, r.text

    upload()
    imported = _history(client, limit=1)[0]
    assert (imported["action"], imported["source"], imported["who"], imported["added"]) == (
        "import", "杨浦新名单.csv", TOKEN_NAME, 2)
    assert "geomap-import-" not in str(imported)  # never the server's temporary path
    assert state.registry.imports()["file"].iloc[-1] == "杨浦新名单.csv"  # nor in the import log
    rows1 = _rows(state)
    upload()  # the same file again: nothing changes, nothing is recorded
    assert _rows(state) == rows1 and _history(client, limit=1)[0]["id"] == imported["id"]
    _undo(client, imported["id"])
    assert _rows(state) == rows0
    assert client.get("/stations/HIMP1").status_code == 404


def test_api_undo_refused_unknown_and_unauthorised(client, state):
    assert client.patch("/stations/YP003", json={"phone": "021-0001"}, headers=AUTH).status_code == 200
    first = _history(client, limit=1)[0]
    assert client.patch("/stations/YP003", json={"phone": "021-0002"}, headers=AUTH).status_code == 200
    second = _history(client, limit=1)[0]
    rows = _rows(state)

    r = client.post(f"/history/{first['id']}/undo", headers=AUTH)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail["code"] == "undo_refused" and detail["later"] == [second["id"]] and detail["station_ids"] == ["YP003"]
    assert f"#{second['id']}" in detail["message"] and "请先" in detail["message"] and "force=true" in detail["message"]
    assert _rows(state) == rows

    r = client.post("/history/987654/undo", headers=AUTH)
    assert r.status_code == 404 and "没有编号为 #987654 的变更记录" in r.json()["detail"]["message"]
    assert client.get("/history/987654", headers=AUTH).status_code == 404
    assert client.post(f"/history/{2**63 - 1}/undo", headers=AUTH).status_code == 404
    assert client.post(f"/history/{2**63}/undo", headers=AUTH).status_code == 422
    assert client.get("/history", params={"limit": 0}, headers=AUTH).status_code == 422
    assert client.get("/history").status_code == 401
    assert client.post(f"/history/{second['id']}/undo", headers={"Authorization": "Bearer wrong"}).status_code == 401

    r = client.post(f"/history/{first['id']}/undo", params={"force": "true"}, headers=AUTH)
    assert r.status_code == 200
    assert client.get("/stations/YP003").json()["properties"]["phone"] == r.json()["changes"][0]["after"]["phone"]
    r = client.post(f"/history/{first['id']}/undo", headers=AUTH)
    assert r.status_code == 409 and "已经撤销过了" in r.json()["detail"]["message"]


def test_service_follows_an_undo_made_on_the_command_line(client, state, capsys, monkeypatch):
    from geomap import settings

    monkeypatch.setattr(settings, "_SETTINGS", settings._SETTINGS)  # the command sets its own: put back after
    rows0 = _rows(state)
    assert client.delete("/stations/YP004", headers=AUTH).status_code == 200
    assert client.get("/stations/YP004").status_code == 404
    deleted = _history(client, limit=1)[0]
    root = state.workspace.root
    assert main(["--workspace", str(root), "undo", str(deleted["id"])]) == 0
    assert "已撤销变更" in capsys.readouterr().out
    assert client.get("/stations/YP004").status_code == 200  # the service's next request sees it
    assert _rows(state) == rows0
    latest = _history(client, limit=1)[0]
    assert (latest["action"], latest["source"], latest["who"]) == ("undo", "cli", registry_module.default_who())
