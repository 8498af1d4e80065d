"""GET /coverage, GET /gaps, POST /plan: equal to the library called directly, and 4xx for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from geomap import coords
from geomap.api import create_app
from geomap.api.state import ServiceState
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> ServiceState:
    return ServiceState.load(sample_workspace(tmp_path_factory.mktemp("plan")), modes=["walk", "ebike"],
                             prewarm=False)


@pytest.fixture(scope="module")
def client(state: ServiceState) -> TestClient:
    return TestClient(create_app(state))


@pytest.fixture(scope="module")
def study(state: ServiceState):  # type: ignore[no-untyped-def]
    """The library's study of the same place, made apart from the service's (a fresh workspace object)."""
    from geomap.workspace import open_workspace

    return open_workspace(state.workspace.root).study()


def test_coverage_equals_library(client: TestClient, state: ServiceState, study) -> None:  # type: ignore[no-untyped-def]
    from geomap.stations.registry import Registry

    r = client.get("/coverage", params={"minutes": 15, "mode": "walk", "kind": "爱心食堂", "crs": "gcj02"})
    assert r.status_code == 200, r.text
    got = r.json()
    want = study.coverage(Registry(state.registry.path).index, minutes=15, mode="walk", kind="canteen")
    assert got["summary_zh"] == want.summary()
    assert got["n_stations"] == want.n_stations == 10
    total = got["table"][-1]
    assert total["subdistrict"] == "合计"
    assert total["residents_share"] == pytest.approx(want.table.iloc[-1]["residents_share"])
    assert total["restaurants_covered"] == pytest.approx(want.table.iloc[-1]["restaurants_covered"])
    # the area comes back in GCJ-02: converting it back to WGS84 gives the library's polygon
    area = shapely.geometry.shape(got["covered_area"])
    back = shapely.transform(area, lambda xy: np.column_stack(coords.to_wgs84(xy[:, 0], xy[:, 1], src="gcj02")))
    assert shapely.symmetric_difference(back, want.covered_area).area < 1e-4 * want.covered_area.area
    assert got["coord_system"] == "gcj02"


def test_gaps_grid_and_ranks(client: TestClient) -> None:
    r = client.get("/gaps", params={"minutes": 15, "mode": "walk", "kind": "canteen"})
    assert r.status_code == 200, r.text
    fc = r.json()
    props = [f["properties"] for f in fc["features"]]
    assert len(props) > 100
    ranks = sorted(p["gap_rank"] for p in props if p["gap_rank"] is not None)
    assert ranks == list(range(1, len(ranks) + 1))
    for p in props:
        assert p["covered"] == (p["travel_min"] is not None and p["travel_min"] <= 15)


def test_plan_greedy_and_exact(client: TestClient) -> None:
    body = {"add": 2, "minutes": 15, "mode": "walk", "kind": "canteen"}
    g = client.post("/plan", json=body)
    e = client.post("/plan", json={**body, "solver": "exact", "crs": "gcj02"})
    assert g.status_code == 200 and e.status_code == 200, (g.text, e.text)
    gj, ej = g.json(), e.json()
    assert len(gj["features"]) == len(ej["features"]) == 2
    assert ej["objective"] >= gj["objective"] - 1e-12 >= (1 - 1 / np.e) * ej["objective"] - 1e-12
    assert ej["coord_system"] == "gcj02"
    assert all(f["properties"]["serves"] for f in gj["features"])


@pytest.mark.parametrize("method,path,params,needle", [
    ("get", "/coverage", {"minutes": 0}, "minutes"),
    ("get", "/coverage", {"minutes": 500}, "minutes"),
    ("get", "/coverage", {"kind": "飞船"}, "valid values"),
    ("get", "/coverage", {"mode": "drive"}, "no street network"),
    ("get", "/gaps", {"resolution": 3}, "resolution"),
    ("post", "/plan", {"add": 0}, "add"),
    ("post", "/plan", {"add": 2, "candidates": ["banks"]}, "candidates"),
    ("post", "/plan", {"add": 2, "solver": "magic"}, "solver"),
    ("post", "/plan", {"add": 2, "oops": 1}, "oops"),
])
def test_planner_bad_input_is_422(client: TestClient, method: str, path: str, params: dict, needle: str) -> None:
    r = client.get(path, params=params) if method == "get" else client.post(path, json=params)
    assert r.status_code == 422, r.text
    assert needle in r.text
