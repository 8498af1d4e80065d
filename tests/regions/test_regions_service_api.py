"""The regions service's place endpoints: /stations (all regions), /isochrones (by the region holding the point,
as the place served alone answers), /map (the published map across regions, built in the background) and the
admin API on the one registry (an edit is answered by /nearest of its region and drawn on the next map)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from geomap import coords
from geomap.api.map_build import stop_map_builds
from geomap.api.models import IsochroneQuery
from geomap.api.read import _isochrones
from geomap.api.state import ServiceState
from geomap.publish.maps import _extract_data
from geomap.regions.service import RegionalService, create_regions_app
from tests._workspaces import sample_workspace

TOKEN = "test-token-regions"


@pytest.fixture(scope="module")
def service(three_regions):
    rws, _ = three_regions
    return RegionalService(rws, memory_mb=4096, modes=["ebike"])


def test_stations_are_the_registrys(three_regions, service):
    rws, city = three_regions
    client = TestClient(create_regions_app(service))
    body = client.get("/stations").json()
    frame = rws.registry.frame().set_index("id")
    assert body["count"] == len(frame) == 58
    for f in body["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert f["id"] in frame.index and f["properties"]["name"] == frame.loc[f["id"], "name"]
        assert (lon, lat) == pytest.approx((frame.loc[f["id"], "lon"], frame.loc[f["id"], "lat"]), abs=1e-7)
    x0, y0, x1, y1 = city.bbox_wgs84  # the place's filters: a bbox around the generated city is its 12 stations
    box = client.get("/stations", params={"bbox": f"{x0 - 0.01},{y0 - 0.01},{x1 + 0.01},{y1 + 0.01}"}).json()
    owned = rws.stations()
    gen_ids = owned.loc[owned["region"] == rws.index_of("gen"), "id"]
    assert sorted(f["id"] for f in box["features"]) == sorted(gen_ids) and len(gen_ids) == 12
    one = client.get(f"/stations/{body['features'][0]['id']}")
    assert one.status_code == 200 and one.json()["id"] == body["features"][0]["id"]
    bad = client.get("/stations", params={"bbox": "1,2"})
    assert bad.status_code == 422 and "范围 bbox" in bad.json()["message"]
    missing = client.get("/stations/NOPE")
    assert missing.status_code == 404 and "没有编号" in missing.json()["detail"]["message"]


def _offset_m(got: dict, want: dict) -> float:
    from pyproj import Transformer

    from geomap.coords import local_metric_crs

    g, w = (shapely.geometry.shape(x["geometry"]) for x in (got, want))
    c = w.centroid
    fwd = Transformer.from_crs("EPSG:4326", local_metric_crs(c.x, c.y), always_xy=True)
    g, w = (shapely.transform(x, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))) for x in (g, w))
    return float(shapely.symmetric_difference(g, w).area / w.length)


def test_isochrones_at_the_border_are_the_place_alones(three_regions, service, tmp_path: Path):
    """Points near the 杨浦区 / 虹口区 border (in both buffers), on either side: the service's circle is the one
    its region answers, and the one the sample place (the whole extract) answers alone, for times a trip cannot
    leave the buffer in (1 minute by e-bike: at most ~420 m of the 800 m)."""
    rws, _ = three_regions
    client = TestClient(create_regions_app(service))
    alone = ServiceState.load(sample_workspace(tmp_path / "alone"), modes=["ebike"], prewarm=False)
    graph = alone.graphs["ebike"]
    fastest = max(float(np.max(graph.street_length_m / np.maximum(graph.street_travel_s, 1e-9))),
                  rws.settings.access_speed_kmh / 3.6)
    assert 60.0 * fastest < rws.buffer_m
    yp, hk = rws.index_of("yangpu"), rws.index_of("hongkou")
    border = shapely.intersection(rws.boundaries[yp].boundary, rws.buffered[hk])
    lon, lat = graph.node_lon, graph.node_lat
    both = rws.near(yp, lon, lat) & rws.near(hk, lon, lat)
    close = shapely.dwithin(shapely.points(lon, lat), border, 0.003)
    owner = rws.owner(lon, lat)
    picks = [int(np.flatnonzero(both & close & (owner == side))[0]) for side in (yp, hk)]
    for n in picks:
        params = {"lon": float(lon[n]), "lat": float(lat[n]), "minutes": "1", "mode": "ebike"}
        r = client.get("/isochrones", params=params)
        assert r.status_code == 200, r.text
        got = r.json()["features"]
        q = IsochroneQuery(**params)
        own = service.state(int(owner[n]))
        assert got == json.loads(json.dumps(_isochrones(own, q, own.current())))["features"]
        want = _isochrones(alone, q, alone.snapshot)["features"]
        assert len(got) == len(want) == 1 and _offset_m(got[0], want[0]) < 0.05
        assert got[0]["properties"]["area_km2"] == pytest.approx(want[0]["properties"]["area_km2"], rel=1e-3)
    # a station's circle, by the region holding it
    frame = rws.stations()
    sid = frame.loc[frame["region"] == hk, "id"].iloc[0]
    r = client.get("/isochrones", params={"station": sid, "minutes": "1", "mode": "ebike"})
    want = _isochrones(alone, IsochroneQuery(station=sid, minutes="1", mode="ebike"), alone.snapshot)["features"]
    assert r.status_code == 200 and _offset_m(r.json()["features"][0], want[0]) < 0.05


def test_isochrones_refuse_in_chinese(service):
    client = TestClient(create_regions_app(service))
    far = client.get("/isochrones", params={"lon": 90, "lat": 35})
    assert far.status_code == 422 and far.json()["detail"]["code"] == "outside_area"
    assert "不在测试省任何地区" in far.json()["detail"]["message"]
    assert client.get("/isochrones", params={"station": "NOPE"}).status_code == 404
    for bad in ({"lon": 121.5}, {"lon": 121.5, "lat": 31.3, "minutes": "0"}, {"lon": 121.5, "lat": 31.3, "mode": "x"}):
        r = client.get("/isochrones", params=bad)
        assert r.status_code == 422 and r.json()["message"].startswith("参数有误"), r.text


def _split_city(folder: Path, city) -> object:
    """The generated city as two regions, its west and east halves (buffer 500 m)."""
    from geomap.regions.workspace import write_regions_workspace

    x0, y0, x1, y1 = city.bbox_wgs84
    xm = (x0 + x1) / 2
    halves = {}
    for key, box in (("west", (x0, y0, xm, y1)), ("east", (xm, y0, x1, y1))):
        halves[key] = folder / f"{key}.geojson"
        halves[key].write_text(json.dumps(shapely.geometry.mapping(shapely.box(*box))), encoding="utf-8")
    rws = write_regions_workspace(folder / "ws", name="两区市", publisher="测试总工会", buffer_m=500, regions=[
        {"key": "west", "name": "西区", "osm_path": city.osm_path, "boundary_path": halves["west"]},
        {"key": "east", "name": "东区", "osm_path": city.osm_path, "boundary_path": halves["east"]}])
    rws.registry.import_file(city.stations_path, crs="gcj02")
    return rws


def _built_map(client: TestClient, *, until: object = None, timeout_s: float = 240.0) -> dict:
    """The map page's data once built (and once ``until(data)`` holds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get("/map")
        assert r.status_code == 200
        if "geomap-data" in r.text:
            data = _extract_data(r.text)
            if until is None or until(data):
                return {**data, "_html": r.text}
        else:
            assert "地图生成中" in r.text and r.headers["cache-control"] == "no-store"
        time.sleep(0.5)
    raise AssertionError("the map was not built in time")


def test_map_and_admin_edits_across_regions(three_regions, tmp_path: Path, monkeypatch):
    _, city = three_regions
    monkeypatch.setenv("GEOMAP_ADMIN_TOKEN", TOKEN)
    rws = _split_city(tmp_path, city)
    svc = RegionalService(rws, modes=["ebike"])
    client = TestClient(create_regions_app(svc))
    try:
        data = _built_map(client)
        ids = set(rws.registry.frame()["id"])
        assert set(data["stations"]["id"]) == ids and data["stations"]["n"] == 12
        # the default bands, widest first (an empty one — the small city is reached whole sooner — is not drawn)
        mins = [f["properties"]["minutes"] for f in data["bands"]["features"]]
        assert mins[-1] == 5.0 and mins == sorted(mins, reverse=True) and set(mins) <= {5.0, 10.0, 15.0}
        drawn = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in data["bands"]["features"]])
        assert data["crs"] == "gcj02"  # the AMap page (map_tiles none: no one extract for offline streets)
        drawn = shapely.transform(drawn, lambda xy: np.column_stack(coords.to_wgs84(xy[:, 0], xy[:, 1], src="gcj02")))
        for b in rws.boundaries:  # both halves' circles
            assert shapely.intersection(drawn, b).area > 0.5 * b.area
        assert "两区市" in data["title"] and client.get("/healthz").json()["map_ready"]
        # an admin edit through the regions service: the region holding it answers it
        x0, y0, x1, y1 = city.bbox_wgs84
        lon, lat = x0 + 0.71 * (x1 - x0), y0 + 0.33 * (y1 - y0)
        q = {"lon": lon, "lat": lat, "mode": "ebike", "k": 1}
        before = client.get("/nearest", params=q).json()["features"][0]
        refused = client.post("/stations", json={"name": "新驿站", "kinds": ["outdoor_station"],
                                                 "lon": lon, "lat": lat})
        assert refused.status_code == 401 and "管理令牌" in refused.json()["detail"]["message"]
        auth = {"Authorization": f"Bearer {TOKEN}"}
        made = client.post("/stations", headers=auth, json={"name": "新驿站", "kinds": ["outdoor_station"],
                                                            "lon": lon, "lat": lat})
        assert made.status_code == 201, made.text
        sid = made.json()["id"]
        after = client.get("/nearest", params=q).json()["features"][0]
        assert after["id"] == sid != before["id"] and after["properties"]["travel_s"] < before["properties"]["travel_s"]
        assert svc.region_of(lon, lat) == "east" and client.get("/stations").json()["count"] == 13
        renamed = client.patch(f"/stations/{sid}", headers=auth, json={"name": "改名的驿站"})
        assert renamed.status_code == 200, renamed.text
        assert client.get("/nearest", params=q).json()["features"][0]["properties"]["name"] == "改名的驿站"
        # the map is rebuilt in the background for the new stations (the last page is served meanwhile)
        data = _built_map(client, until=lambda d: sid in d["stations"]["id"])
        assert data["stations"]["n"] == 13
        assert client.delete(f"/stations/{sid}", headers=auth).status_code == 200
        assert client.get("/nearest", params=q).json()["features"][0]["id"] == before["id"]
    finally:
        stop_map_builds(svc.everywhere)
