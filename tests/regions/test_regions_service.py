"""One service for all regions: each point answered as its place served alone would answer it (also in the
buffer of two regions), regions loaded on first use and unloaded past the memory budget."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from geomap.api.models import NearestQuery
from geomap.api.read import nearest_body
from geomap.api.state import ServiceState
from geomap.regions.service import RegionalService, create_regions_app
from geomap.workspace import init_workspace
from tests._workspaces import sample_workspace


def _answer(body: bytes) -> list[tuple[str, float, float]]:
    return [(f["properties"]["id"] if "id" in f["properties"] else f["id"], f["properties"]["travel_s"],
             f["properties"]["distance_m"]) for f in json.loads(body)["features"]]


@pytest.fixture(scope="module")
def service(three_regions):
    rws, _ = three_regions
    return RegionalService(rws, memory_mb=4096, modes=["ebike"])


def _metres_to(geom: shapely.Geometry, lon: float, lat: float) -> float:
    """Distance (m) from a WGS84 point to a WGS84 geometry, in an azimuthal equidistant projection on the point."""
    from pyproj import Transformer

    from geomap.coords import local_metric_crs

    fwd = Transformer.from_crs("EPSG:4326", local_metric_crs(lon, lat), always_xy=True)
    g = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    return float(shapely.distance(g, shapely.Point(0.0, 0.0)))


def _exact_within_s(rws, graph) -> float:
    """Answers up to this many seconds are exact in a clipped network: the buffer at the fastest speed of
    the mode's streets (or the access legs), a second of rounding off."""
    v = max(float(np.max(graph.street_length_m / np.maximum(graph.street_travel_s, 1e-9))),
            rws.settings.access_speed_kmh / 3.6)
    return rws.buffer_m / v - 1.0


def test_points_near_the_border_are_answered_as_the_place_alone(three_regions, service, tmp_path: Path):
    rws, _ = three_regions
    alone = ServiceState.load(sample_workspace(tmp_path / "alone"), modes=["ebike"])
    graph = alone.graphs["ebike"]
    limit = _exact_within_s(rws, graph)
    yp, hk = rws.index_of("yangpu"), rws.index_of("hongkou")
    # street corners of the extract within 500 m of the 杨浦区 / 虹口区 border, on either side: inside both
    # regions' buffers
    border = shapely.intersection(rws.boundaries[yp].boundary, rws.buffered[hk])
    lon, lat = graph.node_lon, graph.node_lat
    both = rws.near(yp, lon, lat) & rws.near(hk, lon, lat) & (rws.owner(lon, lat) >= 0)
    close = shapely.dwithin(shapely.points(lon, lat), border, 0.005)
    pick = np.flatnonzero(both & close)
    rng = np.random.default_rng(7)
    pick = rng.choice(pick, size=min(24, len(pick)), replace=False)
    compared, compared_there, sides = 0, 0, set()
    for n in pick.tolist():
        q = NearestQuery(lon=float(lon[n]), lat=float(lat[n]), crs="wgs84", mode="ebike", k=5)
        want = [a for a in _answer(nearest_body(alone, q)) if a[1] <= limit]
        got = [a for a in _answer(service.nearest(q)) if a[1] <= limit]
        assert got == want, (lon[n], lat[n])
        # the other region's networks hold the point too (it is in both buffers): there the answers are exact
        # up to the buffer left beyond the point, (buffer - its distance to that outline) at the fastest speed
        other = hk if rws.owner(lon[n], lat[n])[0] == yp else yp
        left_m = rws.buffer_m - _metres_to(rws.boundaries[other], float(lon[n]), float(lat[n]))
        there_limit = left_m / (rws.buffer_m / (limit + 1.0)) - 1.0
        there = [a for a in _answer(nearest_body(service.state(other), q)) if a[1] <= there_limit]
        assert there == [a for a in want if a[1] <= there_limit]
        compared_there += len(there)
        compared += len(want)
        sides.add(int(rws.owner(lon[n], lat[n])[0]))
    assert sides == {yp, hk} and compared >= 30 and compared_there >= 10


def test_generated_city_is_answered_as_served_alone(three_regions, service, tmp_path: Path):
    _rws, city = three_regions
    ws = init_workspace(tmp_path / "city", name="合成市", osm=city.osm_path, lists_crs="gcj02")
    ws.import_file(city.stations_path)
    alone = ServiceState.load(ws, modes=["ebike"])
    x0, y0, x1, y1 = city.bbox_wgs84
    rng = np.random.default_rng(3)
    for lo, la in zip(rng.uniform(x0, x1, 12).tolist(), rng.uniform(y0, y1, 12).tolist(), strict=True):
        q = NearestQuery(lon=lo, lat=la, crs="wgs84", mode="ebike", k=3)
        assert _answer(service.nearest(q)) == _answer(nearest_body(alone, q))
        assert service.region_of(lo, la) == "gen"


def test_straight_line_covers_all_stations_and_far_points_are_told(three_regions, service):
    _rws, city = three_regions
    x0, y0, _, _ = city.bbox_wgs84
    # a straight-line answer from the generated city ranks stations of every region (k larger than the city's)
    body = json.loads(service.nearest(NearestQuery(lon=x0, lat=y0, crs="wgs84", mode="straight", k=20)))
    ids = [f["properties"].get("id", f.get("id")) for f in body["features"]]
    assert len(ids) == 20 and any(i.startswith("YP") for i in ids)
    from geomap.api.deps import ApiError

    with pytest.raises(ApiError) as err:
        service.nearest(NearestQuery(lon=90.0, lat=35.0, crs="wgs84", mode="ebike"))
    assert err.value.detail["code"] == "outside_area"
    assert service.region_of(90.0, 35.0) is None


def test_regions_load_on_first_use_and_the_least_used_unload_past_the_budget(three_regions):
    rws, city = three_regions
    small = RegionalService(rws, memory_mb=0.001, modes=["ebike"])  # any region is over it: one stays at a time
    assert small.health()["loaded"] == []
    yp = small.state(rws.index_of("yangpu"))
    ref = weakref.ref(yp.graphs["ebike"])
    del yp
    x0, y0, x1, y1 = city.bbox_wgs84
    small.nearest(NearestQuery(lon=(x0 + x1) / 2, lat=(y0 + y1) / 2, crs="wgs84", mode="ebike"))
    h = small.health()
    assert h["loaded"] == ["gen"] and h["unloads"] == 1 and h["over_budget"]
    gc.collect()
    assert ref() is None  # the unloaded region's graph (and its mappings) are gone
    roomy = RegionalService(rws, memory_mb=4096, modes=["ebike"])
    for key in rws.keys:
        roomy.state(rws.index_of(key))
    h = roomy.health()
    assert h["loaded"] == rws.keys and h["unloads"] == 0 and not h["over_budget"]
    assert 0 < h["mapped_mb"] == pytest.approx(sum(r["mapped_mb"] for r in h["regions"]), abs=0.2)


def test_http_faces(three_regions, service):
    rws, city = three_regions
    client = TestClient(create_regions_app(service))
    h = client.get("/healthz").json()
    assert [r["key"] for r in h["regions"]] == rws.keys
    assert sum(r["stations"] for r in h["regions"]) == h["stations"]
    x0, y0, _, _ = city.bbox_wgs84
    r = client.get("/nearest", params={"lon": x0, "lat": y0, "mode": "ebike"})
    assert r.status_code == 200 and r.json()["count"] >= 1, r.text
    assert client.get("/nearest", params={"lon": 90, "lat": 35}).status_code == 422
    assert len(client.get("/regions").json()["features"]) == 3


def test_the_one_registry_is_followed(three_regions, tmp_path: Path):
    _, city = three_regions
    from geomap import coords
    from geomap.regions.workspace import write_regions_workspace

    rws = write_regions_workspace(tmp_path / "ws", name="一市", buffer_m=500, regions=[
        {"key": "gen", "name": "合成市", "osm_path": city.osm_path,
         "boundary_path": city.osm_path.parent / "outline.geojson"}])
    rws.registry.import_file(city.stations_path, crs="gcj02")
    svc = RegionalService(rws, modes=["ebike"])
    x0, y0, x1, y1 = city.bbox_wgs84
    lon, lat = x0 + 0.37 * (x1 - x0), y0 + 0.61 * (y1 - y0)
    q = NearestQuery(lon=lon, lat=lat, crs="wgs84", mode="ebike", k=1)
    before = _answer(svc.nearest(q))
    glon, glat = coords.from_wgs84(lon, lat, dst="gcj02")
    new = tmp_path / "new.csv"
    new.write_text(f"站点名称,类型,经度,纬度\n新开的驿站,户外劳动者服务站点,{float(glon):.7f},{float(glat):.7f}\n",
                   encoding="utf-8")
    rws.registry.import_file(new, crs="gcj02")
    after = _answer(svc.nearest(q))
    new_id = rws.registry.frame().set_index("name").loc["新开的驿站", "id"]
    assert after[0][0] == new_id != before[0][0] and after[0][1] < before[0][1]


def test_rider_page_over_regions(three_regions, service):
    rws, city = three_regions
    client = TestClient(create_regions_app(service))
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    place = client.get("/place").json()
    assert place["name"] == rws.name and [r["key"] for r in place["regions"]] == rws.keys
    assert "合成市" in place["area_label"]
    x0, y0, x1, y1 = city.bbox_wgs84
    client.get("/nearest", params={"lon": (x0 + x1) / 2, "lat": (y0 + y1) / 2, "mode": "ebike"})
    sketch = client.get("/streets", params={"mode": "ebike", "crs": "wgs84"})
    assert sketch.status_code == 200, sketch.text
    sketch = sketch.json()
    assert sketch["properties"]["region"] == "gen"
    bx0, by0, bx1, by1 = sketch["properties"]["bbox"]
    assert bx0 <= x0 + 1e-4 and bx1 >= x1 - 1e-4 and by0 <= y0 + 1e-4 and by1 >= y1 - 1e-4
    assert client.get("/vocab").json()["kinds"]
