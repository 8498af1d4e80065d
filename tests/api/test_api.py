"""The HTTP service with FastAPI's test client, on a copy of the sample registry and the real OSM extract.

Answers are compared with the library called directly (the API must be a thin face over it), with
independent computations (haversine brute force for straight-line nearest, pandas filters for station
lists, coords conversions), and every error path is checked for a 4xx with an actionable message.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from geomap import coords
from geomap.api import create_app
from geomap.api.models import NearestCollection, StationCollection
from geomap.api.state import ServiceState
from geomap.workspace import Workspace
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
DATA = Path(__file__).resolve().parents[2] / "data"
TOKEN = "test-token-7f3a9c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WJC_GCJ = (121.5145, 31.3005)


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> ServiceState:
    return ServiceState.load(sample_workspace(tmp_path_factory.mktemp("api"), admin_token=TOKEN))


@pytest.fixture(scope="module")
def client(state) -> TestClient:
    return TestClient(create_app(state))


def lib_nearest(state, lon, lat, **kw):
    from geomap.nearest import nearest

    mode = kw.pop("mode", "ebike")
    return nearest(_fresh_index(state), lon, lat, mode=mode, graph=state.graphs[mode], **kw)


def _fresh_index(state):
    from geomap.stations.registry import Registry

    return Registry(state.registry.path).index  # straight from the file, not the service's snapshot


# --- read endpoints ----------------------------------------------------------------------------------------

def test_healthz(client, state):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["stations"] == len(state.registry)
    assert set(h["modes"]) == {"walk", "ebike", "drive", "truck"} and h["admin_enabled"] is True


def test_place_names_the_area_modes_and_speeds(client, state):
    p = client.get("/place").json()
    cfg = state.settings
    assert p["area_label"] == state.workspace.area_label and set(p["modes"]) == {"walk", "ebike", "drive", "truck"}
    assert p["speed_kmh"] == {"walk": cfg.walk_speed_kmh, "ebike": cfg.ebike_speed_kmh}


def test_stations_list_filters_match_pandas(client, state):
    df = state.registry.frame()
    fc = client.get("/stations").json()
    StationCollection.model_validate(fc)
    assert fc["count"] == len(df) and {f["id"] for f in fc["features"]} == set(df["id"])
    drivers = client.get("/stations", params={"kind": "司机之家"}).json()
    assert {f["id"] for f in drivers["features"]} == {i for i, k in zip(df["id"], df["kinds"], strict=True)
                                                      if "driver_home" in k}
    both = client.get("/stations", params={"amenity": "热饭,ebike_charging"}).json()
    assert {f["id"] for f in both["features"]} == {
        i for i, a in zip(df["id"], df["amenities"], strict=True) if {"food_heating", "ebike_charging"} <= set(a)}
    assert both["count"] > 0


def test_stations_bbox_and_crs(client, state):
    df = state.registry.frame()
    glon, glat = coords.from_wgs84(df["lon"].to_numpy(), df["lat"].to_numpy(), dst="gcj02")
    box = (121.50, 31.295, 121.52, 31.31)
    inside = set(df["id"][(glon >= box[0]) & (glon <= box[2]) & (glat >= box[1]) & (glat <= box[3])])
    fc = client.get("/stations", params={"bbox": ",".join(map(str, box)), "crs": "gcj02"}).json()
    assert fc["coord_system"] == "gcj02" and {f["id"] for f in fc["features"]} == inside and 0 < len(inside) < len(df)
    for f in fc["features"]:
        i = int(np.flatnonzero(df["id"] == f["id"])[0])
        assert f["geometry"]["coordinates"] == pytest.approx([glon[i], glat[i]], abs=1e-6)


def test_station_by_id(client, state):
    st = state.registry.get("YP001")
    f = client.get("/stations/YP001", params={"crs": "bd09"}).json()
    want = coords.from_wgs84(st.lon, st.lat, dst="bd09")
    assert f["id"] == "YP001" and f["properties"]["name"] == st.name
    assert f["geometry"]["coordinates"] == pytest.approx([float(want[0]), float(want[1])], abs=1e-6)
    r = client.get("/stations/NOPE")
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]["message"]


def test_nearest_equals_library_and_crs_round_trip(client, state):
    lon_w, lat_w = (float(v) for v in coords.to_wgs84(*WJC_GCJ, src="gcj02"))
    want = lib_nearest(state, lon_w, lat_w, k=3)
    body = client.get("/nearest", params={"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "k": 3}).json()
    NearestCollection.model_validate(body)
    assert [f["id"] for f in body["features"]] == list(want.station_id[0])
    assert [f["properties"]["travel_s"] for f in body["features"]] == pytest.approx(want.travel_s[0], abs=0.1)
    assert [f["properties"]["distance_m"] for f in body["features"]] == pytest.approx(want.distance_m[0], abs=0.1)
    assert body["coord_system"] == "gcj02" and [f["properties"]["rank"] for f in body["features"]] == [1, 2, 3]
    # same answer asked in WGS84; system names as people write them
    body_w = client.get("/nearest", params={"lon": lon_w, "lat": lat_w, "k": 3}).json()
    assert [f["id"] for f in body_w["features"]] == [f["id"] for f in body["features"]]
    for name, lon, lat in (("WGS84", lon_w, lat_w), ("GCJ-02", *WJC_GCJ), ("高德", *WJC_GCJ)):
        again = client.get("/nearest", params={"lon": lon, "lat": lat, "k": 3, "crs": name})
        assert again.status_code == 200 and [f["id"] for f in again.json()["features"]] == list(want.station_id[0])
    bad = client.get("/nearest", params={"lon": lon_w, "lat": lat_w, "crs": "utm51"})
    assert bad.status_code == 422 and "wgs84" in bad.text
    # outputs: station point and route in the asked system; the route ends at the station's snapped spot
    st = state.registry.get(body["features"][0]["id"])
    g = coords.from_wgs84(st.lon, st.lat, dst="gcj02")
    assert body["features"][0]["geometry"]["coordinates"] == pytest.approx([float(g[0]), float(g[1])], abs=1e-6)
    route_w = np.array(body_w["features"][0]["properties"]["route"]["coordinates"])
    route_g = np.array(body["features"][0]["properties"]["route"]["coordinates"])
    back = np.column_stack(coords.to_wgs84(route_g[:, 0], route_g[:, 1], src="gcj02"))
    assert np.abs(back - route_w).max() < 1e-6
    assert shapely.LineString(route_w).length > 0
    assert coords.haversine_m(route_w[-1, 0], route_w[-1, 1], st.lon, st.lat) < 300


def test_nearest_k_beyond_label_k_and_filters(client, state):
    lon_w, lat_w = (float(v) for v in coords.to_wgs84(*WJC_GCJ, src="gcj02"))
    for k in (1, 4, 10):
        want = lib_nearest(state, lon_w, lat_w, k=k)
        got = client.get("/nearest", params={"lon": lon_w, "lat": lat_w, "k": k}).json()
        assert [f["id"] for f in got["features"]] == [s for s in want.station_id[0] if s is not None]
    want = lib_nearest(state, lon_w, lat_w, k=3, kind="driver_home", mode="truck")
    got = client.get("/nearest", params={"lon": lon_w, "lat": lat_w, "k": 3, "kind": "货车司机之家",
                                         "mode": "truck"}).json()
    assert [f["id"] for f in got["features"]] == [s for s in want.station_id[0] if s is not None]
    assert all("driver_home" in f["properties"]["kinds"] for f in got["features"])
    # open_at: every answer is open at that time, per its own hours
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from geomap.stations.hours import parse_osm
    at = "2026-11-25T12:30"
    got = client.get("/nearest", params={"lon": lon_w, "lat": lat_w, "k": 5, "open_at": at}).json()
    when = datetime(2026, 11, 25, 12, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert got["count"] == 5
    assert all(parse_osm(f["properties"]["opening_hours"]).is_open(when) for f in got["features"])


def test_nearest_straight_equals_haversine_bruteforce(client, state):
    df = state.registry.frame()
    lon, lat = 121.505, 31.30
    d = coords.haversine_m(lon, lat, df["lon"].to_numpy(), df["lat"].to_numpy())
    order = np.argsort(d, kind="stable")[:4]
    got = client.get("/nearest", params={"lon": lon, "lat": lat, "k": 4, "mode": "straight"}).json()
    assert [f["id"] for f in got["features"]] == list(df["id"].to_numpy()[order])
    assert [f["properties"]["distance_m"] for f in got["features"]] == pytest.approx(d[order], abs=0.1)
    assert all(f["properties"]["travel_s"] is None for f in got["features"])


def test_nearest_open_now_and_amap_link(client, state):
    from datetime import datetime
    from urllib.parse import parse_qs, urlparse
    from zoneinfo import ZoneInfo

    from geomap.stations.hours import parse_osm
    t0 = datetime.now(ZoneInfo("Asia/Shanghai"))
    got = client.get("/nearest", params={"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "k": 10}).json()
    t1 = datetime.now(ZoneInfo("Asia/Shanghai"))
    for f in got["features"]:
        p = f["properties"]
        h = parse_osm(p["opening_hours"]) if p["opening_hours"] else None
        if h is None:
            assert p["open_now"] is None
        else:  # evaluated at request time, between t0 and t1
            assert p["open_now"] in (h.is_open(t0), h.is_open(t1))
        st = state.registry.get(f["id"])
        q = parse_qs(urlparse(p["amap_nav_url"]).query)
        lon_s, lat_s, _name = q["to"][0].split(",", 2)
        g = coords.from_wgs84(st.lon, st.lat, dst="gcj02")
        assert (float(lon_s), float(lat_s)) == pytest.approx((float(g[0]), float(g[1])), abs=2e-6)
        assert q["mode"] == ["ride"] and q["coordinate"] == ["gaode"]


@pytest.mark.parametrize("extra", [
    {"crs": "gcj02"},  # the service's searches: routes as text from the compiled call
    {"crs": "gcj02", "out_crs": "bd09", "k": 5},
    {"open_at": "2026-11-25T12:30"},  # through nearest_point: routes as arrays
    {"route": "false"},
    {"mode": "straight", "k": 4},
])
def test_nearest_body_is_canonical_geojson_with_the_stations_properties(client, extra):
    """/nearest writes its answer in pieces (nearest_body): the text is exactly orjson's encoding of what
    it parses to (no stray separator, no duplicated key), and each feature carries the station's own
    properties as /stations/{id} gives them (a separate path: a dict per station), plus the answer's fields
    in their order, and its point in the output system."""
    import orjson

    params = {"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "k": 3, **extra}
    if params.get("crs") != "gcj02":
        params["lon"], params["lat"] = (float(v) for v in coords.to_wgs84(*WJC_GCJ, src="gcj02"))
    r = client.get("/nearest", params=params)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = orjson.loads(r.content)
    assert orjson.dumps(body) == r.content
    NearestCollection.model_validate(body)
    assert body["count"] == len(body["features"]) >= 3
    out_crs = params.get("out_crs", params.get("crs", "wgs84"))
    own = ["open_now", "opens_next", "rank", "travel_s", "travel_minutes", "distance_m", "route", "amap_nav_url",
           "nav_urls"]
    for f in body["features"]:
        st = client.get(f"/stations/{f['id']}", params={"crs": out_crs}).json()
        props = f["properties"]
        assert list(props) == [k for k in st["properties"] if k != "open_now"] + own
        assert {k: v for k, v in props.items() if k not in own} == {
            k: v for k, v in st["properties"].items() if k != "open_now"}
        assert f["geometry"] == st["geometry"] and list(f) == ["type", "id", "properties", "geometry"]
        assert (props["route"] is None) == (extra.get("route") == "false" or extra.get("mode") == "straight")


@pytest.mark.parametrize(("params", "needle"), [
    ({"lon": 200, "lat": 31.3}, "lon"),
    ({"lon": 121.5, "lat": -91}, "lat"),
    ({"lon": "abc", "lat": 31.3}, "lon"),
    ({"lat": 31.3}, "lon"),
    ({"lon": 121.5, "lat": 31.3, "k": 0}, "k"),
    ({"lon": 121.5, "lat": 31.3, "k": 51}, "k"),
    ({"lon": 121.5, "lat": 31.3, "crs": "utm"}, "wgs84"),
    ({"lon": 121.5, "lat": 31.3, "mode": "plane"}, "ebike"),
    ({"lon": 121.5, "lat": 31.3, "amenity": "spa"}, "food_heating (热饭)"),
    ({"lon": 121.5, "lat": 31.3, "kind": "hotel"}, "driver_home (司机之家)"),
    ({"lon": 121.5, "lat": 31.3, "open_at": "tomorrow-ish"}, "now"),
    ({"lon": 121.5, "lat": 31.3, "amenities": "热饭"}, "amenities"),
])
def test_nearest_bad_parameters_are_422_with_valid_values(client, params, needle):
    r = client.get("/nearest", params=params)
    assert r.status_code == 422, r.text
    assert needle in r.text and "message" in r.json()


def test_nearest_20_km_away_is_outside_the_area(client, state):
    lon, lat = 121.30, 31.30  # ~20 km west of the extract: not "far from a street" of it, outside its area
    r = client.get("/nearest", params={"lon": lon, "lat": lat})
    assert r.status_code == 422
    d = r.json()["detail"]
    assert d["code"] == "outside_area" and d["area_label"] == state.workspace.area_label
    idx = state.snapshot.index
    nearest_m = float(coords.haversine_m(lon, lat, idx.lon, idx.lat).min())
    assert [s["straight_m"] for s in d["straight_line"]][:1] == ([pytest.approx(nearest_m, abs=0.1)]
                                                                  if nearest_m <= 20_000 else [])


def test_isochrones_station_and_point(client, state):
    st = state.registry.get("YP001")
    a = client.get("/isochrones", params={"station": "YP001", "minutes": "5,15", "mode": "walk"}).json()
    b = client.get("/isochrones", params={"lon": st.lon, "lat": st.lat, "minutes": "15,5", "mode": "walk"}).json()
    assert [f["properties"]["minutes"] for f in a["features"]] == [5, 15]
    areas = [f["properties"]["area_km2"] for f in a["features"]]
    assert 0 < areas[0] < areas[1]
    assert [f["properties"]["area_km2"] for f in b["features"]] == pytest.approx(areas, rel=1e-6)
    poly = shapely.geometry.shape(a["features"][0]["geometry"])
    assert poly.contains(shapely.Point(st.lon, st.lat))
    g = client.get("/isochrones", params={"station": "YP001", "minutes": "5", "mode": "walk", "crs": "gcj02"}).json()
    pg = shapely.geometry.shape(g["features"][0]["geometry"])
    glon, glat = coords.from_wgs84(st.lon, st.lat, dst="gcj02")
    assert g["coord_system"] == "gcj02" and pg.contains(shapely.Point(float(glon), float(glat)))


@pytest.mark.parametrize(("params", "status"), [
    ({"station": "NOPE"}, 404),
    ({"station": "YP001", "lon": 121.5, "lat": 31.3}, 422),
    ({}, 422),
    ({"lon": 121.5}, 422),
    ({"station": "YP001", "minutes": "0"}, 422),
    ({"station": "YP001", "minutes": "121"}, 422),
    ({"station": "YP001", "minutes": "5,x"}, 422),
    ({"station": "YP001", "mode": "boat"}, 422),
    ({"lon": 121.30, "lat": 31.30}, 422),
])
def test_isochrones_errors(client, params, status):
    r = client.get("/isochrones", params=params)
    assert r.status_code == status, r.text
    assert r.json()["detail"]


def test_openapi_documents_every_field(client):
    spec = client.get("/openapi.json").json()
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if not (p.get("description") or p.get("schema", {}).get("description")):
                    missing.append(f"{method} {path} ?{p['name']}")
    for name, sch in spec["components"]["schemas"].items():
        if name in ("HTTPValidationError", "ValidationError") or name.startswith("Body_"):
            continue
        for prop, ps in sch.get("properties", {}).items():
            if prop == "type" or "$ref" in ps or "description" in ps:
                continue
            if name in ("ImportReport", "ProblemOut", "Health") and prop in ("errors", "warnings", "summary",
                                                                             "severity", "status"):
                continue
            missing.append(f"{name}.{prop}")
    assert not missing, missing
    q = {p["name"]: p for p in spec["paths"]["/nearest"]["get"]["parameters"]}
    assert "degrees" in q["lon"]["description"] and "wgs84" in q["crs"]["description"]


def test_rider_page_and_static(client):
    r = client.get("/")
    assert r.status_code == 200 and "附近的服务站点" in r.text and "/static/app.js" in r.text
    assert client.get("/static/app.js").status_code == 200
    s = client.get("/streets").json()
    assert s["geometry"]["type"] == "MultiLineString" and len(s["geometry"]["coordinates"]) > 100
    assert client.get("/streets", params={"mode": "boat"}).status_code == 422


# --- admin --------------------------------------------------------------------------------------------------

def test_admin_refused_without_configured_token(tmp_path):
    st = ServiceState.load(sample_workspace(tmp_path, admin_token=None), modes=["ebike"], prewarm=False)
    c = TestClient(create_app(st))
    body = {"name": "x", "kinds": ["驿站"], "lon": 121.5, "lat": 31.3}
    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        r = c.post("/stations", json=body, headers=headers)
        assert r.status_code == 403 and "GEOMAP_ADMIN_TOKEN" in r.json()["detail"]["message"]
    assert c.delete("/stations/YP001", headers=AUTH).status_code == 403
    assert c.get("/healthz").json()["admin_enabled"] is False


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_admin_bad_token_is_401(client, headers):
    r = client.post("/stations", json={"name": "x", "kinds": ["驿站"], "lon": 121.5, "lat": 31.3}, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.patch("/stations/YP001", json={"name": "y"}, headers=headers).status_code == 401
    assert client.delete("/stations/YP001", headers=headers).status_code == 401
    files = {"file": ("a.csv", b"x", "text/csv")}
    assert client.post("/stations/import", files=files, headers=headers).status_code == 401


def test_admin_create_patch_delete_visible_at_once(client, state):
    from geomap.stations.registry import Registry

    q = {"lon": 121.5035, "lat": 31.2985, "crs": "gcj02", "k": 3}
    before = client.get("/nearest", params=q).json()
    new = {"id": "API-T1", "name": "测试驿站", "kinds": ["爱心驿站"], "amenities": ["热饭", "饮水"],
           "lon": q["lon"], "lat": q["lat"], "crs": "gcj02", "opening_hours_raw": "24小时"}
    r = client.post("/stations", json=new, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["open_now"] is True and r.json()["properties"]["opening_hours"] == "24/7"
    after = client.get("/nearest", params=q).json()
    assert after["features"][0]["id"] == "API-T1" and before["features"][0]["id"] != "API-T1"
    # the rider stands where the station is: the whole trip is the access leg to the street and back
    from geomap.network.routing import snap_points

    off_m = float(snap_points(state.graphs["ebike"], *coords.to_wgs84(q["lon"], q["lat"], src="gcj02")).distance_m[0])
    assert off_m > 1.0
    assert after["features"][0]["properties"]["travel_s"] == pytest.approx(2 * off_m * 3.6 / 5.0, abs=0.1)
    stored = Registry(state.registry.path).get("API-T1")  # persisted, in WGS84
    w = coords.to_wgs84(q["lon"], q["lat"], src="gcj02")
    assert (stored.lon, stored.lat) == pytest.approx((float(w[0]), float(w[1])), abs=1e-7)
    assert stored.amenities == ["food_heating", "water"]
    assert client.post("/stations", json=new, headers=AUTH).status_code == 409

    # move it far away: no longer the nearest
    r = client.patch("/stations/API-T1", json={"lon": 121.535, "lat": 31.33, "crs": "gcj02", "name": "搬走了"},
                     headers=AUTH)
    assert r.status_code == 200 and r.json()["properties"]["name"] == "搬走了"
    assert client.get("/nearest", params=q).json()["features"][0]["id"] == before["features"][0]["id"]
    assert Registry(state.registry.path).get("API-T1").name == "搬走了"
    assert client.patch("/stations/NOPE", json={"name": "x"}, headers=AUTH).status_code == 404
    assert client.patch("/stations/API-T1", json={"lon": 121.5}, headers=AUTH).status_code == 422
    assert client.patch("/stations/API-T1", json={"kinds": ["hotel"]}, headers=AUTH).status_code == 422
    assert client.patch("/stations/API-T1", json={"colour": "red"}, headers=AUTH).status_code == 422

    r = client.delete("/stations/API-T1", headers=AUTH)
    assert r.status_code == 200 and r.json()["stations"] == len(Registry(state.registry.path))
    assert client.get("/stations/API-T1").status_code == 404
    assert Registry(state.registry.path).get("API-T1") is None
    assert client.delete("/stations/API-T1", headers=AUTH).status_code == 404


def test_an_edit_that_moves_no_station_keeps_the_labels(tmp_path):
    """Renaming a station (or new hours, phone) changes no position: the network labels are reused, not
    rebuilt; moving one repairs them in place (the station moves to a new slot), and the answers follow."""
    from geomap.api.state import LABEL_K
    from geomap.network.nearest import station_labels
    from geomap.stations.index import StationFilter

    st = ServiceState.load(sample_workspace(tmp_path, admin_token=TOKEN), modes=["ebike"])
    c = TestClient(create_app(st))
    g = st.graphs["ebike"]

    def labels():
        sel = st.current().index.selection(StationFilter())
        return station_labels(g, station_lon=sel.lon, station_lat=sel.lat, station_ids=sel.ids, k=LABEL_K,
                              station_key=sel.key).labels

    before = labels()
    assert c.patch("/stations/YP001", json={"name": "新名字", "opening_hours_raw": "8:00-20:00"},
                   headers=AUTH).status_code == 200
    assert st.snapshot.version == 2 and labels() is before
    q = {"lon": 121.5035, "lat": 31.2985, "crs": "gcj02"}
    assert c.patch("/stations/YP001", json={**q, "name": "搬家"}, headers=AUTH).status_code == 200
    moved = labels()
    assert moved is not before and moved.n_slots == before.n_slots + 1  # derived: YP001 moved to a new slot
    assert not moved.alive[list(before.ids).index("YP001")]
    assert c.get("/nearest", params={**q, "k": 1}).json()["features"][0]["id"] == "YP001"


def test_edits_through_one_worker_are_served_by_another_at_once(tmp_path):
    """Two services on one registry file, as two worker processes are: whatever one writes (or the command
    line imports), the other serves from its very next request."""
    from geomap.stations.registry import Registry

    ws = sample_workspace(tmp_path, admin_token=TOKEN)
    reg = ws.registry_path
    a = TestClient(create_app(ServiceState.load(ws, modes=["ebike"])))
    b = TestClient(create_app(ServiceState.load(Workspace(root=ws.root, settings=ws.settings), modes=["ebike"])))
    q = {"lon": 121.5035, "lat": 31.2985, "crs": "gcj02", "k": 3}
    before = b.get("/nearest", params=q).json()["features"][0]["id"]
    v0 = b.get("/healthz").json()["version"]
    assert b.get("/healthz").json()["version"] == v0  # nothing changed: no reload
    new = {"id": "TWO-1", "name": "另一进程的驿站", "kinds": ["爱心驿站"], "lon": q["lon"], "lat": q["lat"],
           "crs": "gcj02", "opening_hours_raw": "24小时"}
    assert a.post("/stations", json=new, headers=AUTH).status_code == 201
    got = b.get("/nearest", params=q).json()["features"][0]
    assert got["id"] == "TWO-1" and got["properties"]["name"] == "另一进程的驿站" and before != "TWO-1"
    assert b.get("/healthz").json()["version"] == v0 + 1
    assert b.patch("/stations/TWO-1", json={"name": "改过名"}, headers=AUTH).status_code == 200
    assert a.get("/stations/TWO-1").json()["properties"]["name"] == "改过名"
    # a write by another program (the CLI import): both follow
    extra = Registry(reg).frame().iloc[[0]].assign(id="CLI-1", name="命令行导入")
    Registry(reg).upsert(extra)
    assert a.get("/stations/CLI-1").status_code == 200 and b.get("/stations/CLI-1").status_code == 200
    assert a.delete("/stations/TWO-1", headers=AUTH).status_code == 200
    assert b.get("/stations/TWO-1").status_code == 404
    assert b.get("/nearest", params=q).json()["features"][0]["id"] == before
    n = len(Registry(reg))
    assert a.get("/healthz").json()["stations"] == b.get("/healthz").json()["stations"] == n


@pytest.mark.parametrize(("body", "needle"), [
    ({"name": "x", "kinds": [], "lon": 121.5, "lat": 31.3}, "kinds"),
    ({"name": "x", "kinds": ["驿站"], "lon": 121.5, "lat": 95}, "lat"),
    ({"name": "", "kinds": ["驿站"], "lon": 121.5, "lat": 31.3}, "name"),
    ({"name": "x", "kinds": ["驿站"], "amenities": ["sauna"], "lon": 121.5, "lat": 31.3}, "water (饮水)"),
    ({"name": "x", "kinds": ["驿站"], "lon": 121.5, "lat": 31.3, "id": "a b"}, "id"),
    ({"name": "x", "kinds": ["驿站"], "lon": 121.5, "lat": 31.3, "crs": "itrf"}, "crs"),
])
def test_admin_create_validation(client, body, needle):
    r = client.post("/stations", json=body, headers=AUTH)
    assert r.status_code == 422 and needle in r.text


def test_admin_import_report_and_refusal(client, state):
    from geomap.stations.registry import Registry

    sample = pd.read_csv(DATA / "sample" / "yangpu_stations_gcj02.csv", encoding="utf-8-sig", dtype=str)
    good = sample.head(3).copy()
    good["编号"] = ["IMP1", "IMP2", "IMP3"]
    good["名称"] = good["名称"] + "（导入测试）"
    good["经度"] = (good["经度"].astype(float) + 0.002).map(lambda v: f"{v:.6f}")  # not on top of the originals
    buf = io.BytesIO(good.to_csv(index=False).encode("utf-8"))
    r = client.post("/stations/import", files={"file": ("new.csv", buf, "text/csv")}, data={"crs": "gcj02"},
                    headers=AUTH)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["ok"] and rep["imported"] == 3 and rep["records"] == 3 and rep["errors"] == 0
    assert rep["stations"] == len(Registry(state.registry.path))
    st = Registry(state.registry.path).get("IMP1")
    near = client.get("/nearest", params={"lon": st.lon, "lat": st.lat, "k": 1, "mode": "straight"}).json()
    assert near["features"][0]["id"] == "IMP1" and near["features"][0]["properties"]["distance_m"] < 0.01

    bad = good.copy()
    bad["编号"] = ["IMP4", "IMP5", "IMP6"]
    bad.loc[bad.index[1], "经度"] = "not-a-number"
    before = Registry(state.registry.path).frame()
    buf = io.BytesIO(bad.to_csv(index=False).encode("utf-8"))
    r = client.post("/stations/import", files={"file": ("bad.csv", buf, "text/csv")}, data={"crs": "gcj02"},
                    headers=AUTH)
    assert r.status_code == 422
    rep = r.json()
    assert rep["ok"] is False and rep["imported"] == 0 and rep["errors"] >= 1
    assert any(p["row"] == 3 and p["severity"] == "error" for p in rep["problems"])  # header = row 1
    pd.testing.assert_frame_equal(Registry(state.registry.path).frame(), before)
    assert client.get("/stations/IMP4").status_code == 404

    r = client.post("/stations/import", files={"file": ("x.exe", b"MZ", "application/octet-stream")},
                    headers=AUTH)
    assert r.status_code == 422 and ".csv" in r.json()["detail"]["message"]
    r = client.post("/stations/import", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
                    data={"profile": "nope"}, headers=AUTH)
    assert r.status_code == 422 and "anting" in r.json()["detail"]["message"]
    r = client.post("/stations/import", files={"file": ("x.xlsx", b"not a zip", "application/octet-stream")},
                    headers=AUTH)
    assert r.status_code == 422
    assert client.post("/stations/import", headers=AUTH).status_code == 422


def test_published_map_is_served(client, state):
    import time

    r = client.get("/map")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    deadline = time.monotonic() + 180
    while "地图正在生成" in r.text and time.monotonic() < deadline:
        time.sleep(1)
        r = client.get("/map")
    assert "地图正在生成" not in r.text, "the published map was not built within 3 minutes"
    names = state.registry.frame()["name"]
    assert r.text.lstrip().lower().startswith("<!doctype html") and sum(n in r.text for n in names) >= 1


def test_warm_nearest_prepares_the_riders_labels(tmp_path) -> None:
    """At start the service answers one /nearest per mode (warm_nearest), so the labels of the unfiltered
    stations exist for every mode before a rider asks, and the answers are those of a fresh service."""
    from geomap.api.models import NearestQuery
    from geomap.api.read import nearest_body, warm_nearest
    from geomap.api.state import LABEL_K

    st = ServiceState.load(sample_workspace(tmp_path), modes=["walk", "ebike"], prewarm=False)
    assert all("_station_labels" not in g.__dict__ for g in st.graphs.values())
    warm_nearest(st)
    for g in st.graphs.values():
        kept = {id(v.labels): v.labels for v in g.__dict__["_station_labels"].values()}
        assert [lab.k for lab in kept.values()] == [LABEL_K] and len(next(iter(kept.values())).ids) == 46
    lon, lat = st.graphs["ebike"].centre_lonlat
    q = NearestQuery(lon=lon + 0.001, lat=lat, crs="wgs84")
    fresh = ServiceState.load(sample_workspace(tmp_path / "again"), modes=["ebike"], prewarm=False)
    assert nearest_body(st, q) == nearest_body(fresh, q)


def test_repeated_parameter_and_over_long_request_are_clear_4xx(client):
    """k=1&k=50 would silently be k=50: a 422 naming the parameter; an over-long request line a 414 with a
    JSON body (not the server's plain-text 400)."""
    r = client.get("/nearest?lon=121.51&lat=31.30&k=1&k=50")
    assert r.status_code == 422 and r.json()["detail"]["parameters"] == ["k"] and "参数 k 出现了不止一次" in r.text
    r = client.get("/nearest?lon=121.51&lat=31.30&amenity=water,toilet&k=2")
    assert r.status_code == 200
    r = client.get("/stations?bbox=" + "1" * 5000)
    assert r.status_code == 414 and r.json()["detail"]["code"] == "uri_too_long" and "请求地址过长" in r.text


def test_a_station_read_can_be_written_back_as_it_is(tmp_path):
    """GET /stations/{id}, change one field, PATCH the properties and lon/lat back: the one change is made,
    nothing else moves (read and write share their field names); a different id in the body is refused."""
    st = ServiceState.load(sample_workspace(tmp_path, admin_token=TOKEN), modes=["ebike"], prewarm=False)
    c = TestClient(create_app(st))
    sid = st.registry.frame()["id"].iloc[0]
    before = st.registry.get(sid)
    feat = c.get(f"/stations/{sid}", params={"crs": "gcj02"}).json()
    body = {**feat["properties"], "lon": feat["geometry"]["coordinates"][0],
            "lat": feat["geometry"]["coordinates"][1], "crs": "gcj02", "id": sid, "opening_hours_raw": "8:00-20:00"}
    r = c.patch(f"/stations/{sid}", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    after = st.registry.get(sid)
    assert after.opening_hours_raw == "8:00-20:00" and after.opening_hours == "08:00-20:00"
    assert coords.haversine_m(after.lon, after.lat, before.lon, before.lat) < 0.01
    same = {k for k in before.model_dump() if k not in ("opening_hours", "opening_hours_raw", "source_crs")}
    assert {k: getattr(after, k) for k in same} == {k: getattr(before, k) for k in same}
    r = c.patch(f"/stations/{sid}", json={**body, "id": "someone-else"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "id_mismatch"


@pytest.mark.parametrize(("params", "want"), [
    ({"lon": 121.5}, "缺少纬度 lat"),
    ({"lon": 200, "lat": 31.3}, "经度 lon应不大于 180（收到 '200'）"),
    ({"lon": 121.5, "lat": 31.3, "k": 0}, "站点数 k应不小于 1"),
    ({"lon": 121.5, "lat": 31.3, "k": "五"}, "站点数 k应是整数（收到 '五'）"),
    ({"lon": 121.5, "lat": 31.3, "mode": "rocket"},
     "出行方式 mode只能是 'walk'、'ebike'、'drive'、'truck'、'straight'"),
])
def test_validation_messages_name_the_parameter_in_chinese(client, params, want):
    r = client.get("/nearest", params=params)
    assert r.status_code == 422
    assert want in r.json()["message"], r.json()["message"]
    assert r.json()["detail"][0]["msg"]  # the English stays for developers


def test_outside_the_area_and_far_from_streets_are_told_apart(client, state):
    """Beijing asked of the Yangpu service: outside the area served, named, no suggestions that far; a
    point a few km outside: the nearest stations by straight line; a point inside the area but far from
    every street: its true distance to the streets (checked against shapely on the street geometry)."""
    from geomap.network.extent import contains

    r = client.get("/nearest", params={"lon": 116.397, "lat": 39.909, "crs": "gcj02"})
    d = r.json()["detail"]
    assert r.status_code == 422 and d["code"] == "outside_area" and d["straight_line"] == []
    assert f"您的位置不在本服务范围（{state.workspace.area_label}）内" in d["message"]
    r = client.get("/nearest", params={"lon": 121.60, "lat": 31.30, "crs": "gcj02"})
    d = r.json()["detail"]
    assert d["code"] == "outside_area" and d["straight_line"] and "按直线距离" in d["message"]
    lon_w, lat_w = (float(v) for v in coords.to_wgs84(121.60, 31.30, src="gcj02"))
    want = coords.haversine_m(lon_w, lat_w, state.registry.get(d["straight_line"][0]["id"]).lon,
                              state.registry.get(d["straight_line"][0]["id"]).lat)
    assert d["straight_line"][0]["straight_m"] == pytest.approx(float(want), abs=0.2)
    # inside the area, far from every street: search a grid for such a spot
    g = state.graphs["ebike"]
    gx, gy = np.meshgrid(np.linspace(g.node_lon.min(), g.node_lon.max(), 50),
                         np.linspace(g.node_lat.min(), g.node_lat.max(), 50))
    from geomap.network.routing import snap_points

    d_all = snap_points(g, gx.ravel(), gy.ravel(), max_snap_m=50_000, errors="ignore", prefer_core=False).distance_m
    inside = contains(state.area, gx.ravel(), gy.ravel())
    cand = np.flatnonzero(inside & (d_all > 400) & (d_all < 2000))
    if not len(cand):
        pytest.skip("no spot 400 m from every e-bike street inside the sample's area")
    i = int(cand[0])
    r = client.get("/nearest", params={"lon": gx.ravel()[i], "lat": gy.ravel()[i], "crs": "wgs84"})
    d = r.json()["detail"]
    metric = coords.local_metric_crs(121.5, 31.3)
    import geopandas as gpd

    streets = gpd.GeoSeries(shapely.linestrings(np.column_stack([g.geom_lon, g.geom_lat]),
                                                indices=np.repeat(np.arange(g.n_streets), np.diff(g.geom_offsets))),
                            crs=4326).to_crs(metric)
    pt = gpd.GeoSeries([shapely.Point(gx.ravel()[i], gy.ravel()[i])], crs=4326).to_crs(metric)[0]
    true_m = float(streets.distance(pt).min())
    assert d["code"] == "far_from_network" and d["distance_m"] == pytest.approx(true_m, rel=0.02, abs=2.0)
    assert f"{round(true_m, -1):,.0f}" in d["message"] or f"{round(true_m, -2):,.0f}" in d["message"]


def test_a_library_batch_marks_outside_far_and_unanswerable_points(state):
    """ws.nearest over a batch with points outside the area, inside but far from streets and with nothing to
    reach: each marked, every other point answered as alone."""
    ws = state.workspace
    g = state.graphs["ebike"]
    rng = np.random.default_rng(3)
    j = rng.integers(0, g.n_nodes, 30)
    lon = np.concatenate([g.node_lon[j], [116.39, 121.70]])
    lat = np.concatenate([g.node_lat[j], [39.91, 31.30]])
    res = ws.nearest(lon, lat, k=2, mode="ebike")
    assert list(res.status[-2:]) == ["outside_area", "outside_area"]
    assert (res.slot[-2:] == -1).all() and np.isinf(res.travel_s[-2:]).all()
    assert set(res.status[:-2]) <= {"ok", "none"} and (res.status[:-2] == "ok").mean() > 0.9
    for i in range(30):
        one = ws.nearest(lon[i], lat[i], k=2, mode="ebike")
        assert list(one.station_id[0]) == list(res.station_id[i])


def test_nothing_found_says_why_and_what_is_near_by_straight_line(client, state, tmp_path, monkeypatch):
    """No filter: nothing within the mode's reach is said as such (not 'try fewer filters'); with a filter
    that nothing matches: 'try fewer filters'. Either way the nearest stations by straight line are given."""
    lon_w, lat_w = (float(v) for v in coords.to_wgs84(*WJC_GCJ, src="gcj02"))
    every = "water,rest,toilet,shower,laundry,truck_parking,lodging,legal_aid,mother_room"
    body = client.get("/nearest", params={"lon": lon_w, "lat": lat_w, "amenity": every}).json()
    assert body["count"] == 0 and "试试减少筛选条件" in body["message"]
    d, slot = state.snapshot.index.query(np.array([lon_w]), np.array([lat_w]), k=3)
    assert [s["id"] for s in body["straight_line"]] == [state.snapshot.index.ids[j] for j in slot[0]]
    assert [s["straight_m"] for s in body["straight_line"]] == pytest.approx(d[0].tolist(), abs=0.1)
    import geomap.settings

    ws = sample_workspace(tmp_path, label_limit_minutes=0.05)
    monkeypatch.setattr(geomap.settings, "_SETTINGS", ws.settings)  # a service's settings are process-wide
    tiny = ServiceState.load(ws, modes=["ebike"])
    body = TestClient(create_app(tiny)).get("/nearest", params={"lon": lon_w, "lat": lat_w}).json()
    assert body["count"] == 0 and "分钟内沿道路到不了任何站点" in body["message"]
    assert "筛选" not in body["message"] and len(body["straight_line"]) == 3


def test_nearest_at_opens_next_and_open_at_now(client, state):
    """`at` moves the answer's clock: open_now and opens_next are for that moment (and open_at=now means
    it). A station closed then opens at opens_next and not a minute before (by its own hours); a Mo-Fr
    08:30-17:00 station asked on Saturday 20:00 opens on Monday 08:30 (hand-computed)."""
    from datetime import datetime, timedelta

    from geomap.stations.hours import parse_osm
    at = "2026-12-05T20:00"  # a Saturday
    when = datetime(2026, 12, 5, 20, 0)
    body = client.get("/nearest", params={"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "k": 20,
                                          "at": at}).json()
    NearestCollection.model_validate(body)
    assert body["at"] == "2026-12-05T20:00:00+08:00" and body["open_at"] is None
    closed = 0
    for f in body["features"]:
        p = f["properties"]
        h = parse_osm(p["opening_hours"]) if p["opening_hours"] else None
        assert p["open_now"] == (None if h is None else h.is_open(when))
        if not p["open_now"]:
            assert (p["opens_next"] is None) == (h is None)
        if p["opens_next"] is not None:
            closed += 1
            t = datetime.fromisoformat(p["opens_next"])
            assert t.utcoffset() == timedelta(hours=8) and h.is_open(t.replace(tzinfo=None))
            assert not h.is_open(t.replace(tzinfo=None) - timedelta(minutes=1))
            assert when < t.replace(tzinfo=None) <= when + timedelta(days=7)
        else:
            assert p["open_now"] is not False
    assert closed >= 3
    st = state.registry.get("YP008")
    assert st.opening_hours == "Mo-Fr 08:30-17:00"
    one = client.get("/nearest", params={"lon": st.lon, "lat": st.lat, "mode": "straight", "k": 1, "at": at}).json()
    assert one["features"][0]["id"] == "YP008"
    assert one["features"][0]["properties"]["opens_next"] == "2026-12-07T08:30:00+08:00"
    # open_at=now with at: only what is open at that moment
    opened = client.get("/nearest", params={"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "k": 5, "at": at,
                                            "open_at": "now"}).json()
    assert opened["open_at"].startswith("2026-12-05T20:00") and opened["count"] == 5
    assert all(f["properties"]["open_now"] is True for f in opened["features"])
    for bad in ("soon", "9999-12-31T23:59", "0001-01-01T00:00+14:00"):
        r = client.get("/nearest", params={"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "at": bad})
        assert r.status_code == 422 and "时刻 at" in r.json()["message"], r.text


@pytest.mark.parametrize(("mode", "amap", "baidu", "tencent"), [
    ("ebike", "ride", "riding", "bike"), ("walk", "walk", "walking", "walk"), ("drive", "car", "driving", "drive"),
    ("truck", "car", "driving", "drive"), ("straight", "ride", "riding", "bike")])
def test_nearest_navigation_links_for_each_mode(client, state, mode, amap, baidu, tencent):
    """Each station's links open the three map apps with the mode's travel mode, from the query point to
    the station in each app's system (checked with prcoords, independent of geomap.coords)."""
    from urllib.parse import parse_qs, urlparse

    import prcoords
    body = client.get("/nearest", params={"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "k": 2,
                                          "mode": mode, "nav": "all"}).json()
    o_bd = prcoords.gcj_bd(prcoords.Coords(WJC_GCJ[1], WJC_GCJ[0]))
    for f in body["features"]:
        p = f["properties"]
        st = state.registry.get(f["id"])
        g = prcoords.wgs_gcj(prcoords.Coords(st.lat, st.lon))
        b = prcoords.wgs_bd(prcoords.Coords(st.lat, st.lon))
        assert p["amap_nav_url"] == p["nav_urls"]["amap"]
        q = parse_qs(urlparse(p["nav_urls"]["amap"]).query)
        assert q["mode"] == [amap] and [float(x) for x in q["to"][0].split(",")[:2]] == pytest.approx(
            [g.lon, g.lat], abs=2e-6) and [float(x) for x in q["from"][0].split(",")[:2]] == pytest.approx(
            list(WJC_GCJ), abs=2e-6)
        q = parse_qs(urlparse(p["nav_urls"]["baidu"]).query)
        lat, lon = q["destination"][0].split("|")[0].removeprefix("latlng:").split(",")
        o_lat, o_lon = q["origin"][0].split("|")[0].removeprefix("latlng:").split(",")
        assert q["mode"] == [baidu] and q["coord_type"] == ["bd09ll"]
        assert (float(lon), float(lat), float(o_lon), float(o_lat)) == pytest.approx((b.lon, b.lat, o_bd.lon, o_bd.lat),
                                                                                    abs=2e-6)
        q = parse_qs(urlparse(p["nav_urls"]["tencent"]).query)
        lat, lon = q["tocoord"][0].split(",")
        assert q["type"] == [tencent] and (float(lon), float(lat)) == pytest.approx((g.lon, g.lat), abs=2e-6)
        assert q["to"] == [st.name] and q["fromcoord"] == [f"{WJC_GCJ[1]:.6f},{WJC_GCJ[0]:.6f}"]


def test_nothing_by_this_mode_names_what_other_modes_reach(tmp_path, monkeypatch):
    """A place sending nobody farther than 10 minutes: from a spot no station is within walking reach of,
    /nearest by walk says so (no filter: no 'fewer filters') and lists, for each other mode, the stations
    the library finds by it (same filters); with a filter that still finds nothing on foot, the other modes'
    stations all match it."""
    import geomap.settings

    ws = sample_workspace(tmp_path, label_limit_minutes=10.0)
    monkeypatch.setattr(geomap.settings, "_SETTINGS", ws.settings)  # a service's settings are process-wide
    tiny = ServiceState.load(ws, modes=["walk", "ebike", "drive"])
    c = TestClient(create_app(tiny))
    g = tiny.graphs["walk"]
    res = ws.nearest(g.node_lon, g.node_lat, k=1, mode="walk", return_routes=False)
    j = int(np.flatnonzero(res.status == "none")[0])
    lon, lat = float(g.node_lon[j]), float(g.node_lat[j])
    body = c.get("/nearest", params={"lon": lon, "lat": lat, "mode": "walk", "k": 5}).json()
    NearestCollection.model_validate(body)
    assert body["count"] == 0 and body["message"] == "步行 10 分钟内沿道路到不了任何站点"
    assert [o["mode"] for o in body["other_modes"]] == ["ebike", "drive"]
    for o in body["other_modes"]:
        want = ws.nearest(lon, lat, k=3, mode=o["mode"], return_routes=False)
        assert [s["id"] for s in o["stations"]] == [s for s in want.station_id[0] if s is not None]
        assert [s["travel_s"] for s in o["stations"]] == pytest.approx(want.travel_s[0][:len(o["stations"])], abs=0.1)
        assert o["label"] in ("电动自行车", "驾车")
    body = c.get("/nearest", params={"lon": lon, "lat": lat, "mode": "walk", "kind": "canteen"}).json()
    assert body["count"] == 0 and "试试减少筛选条件" in body["message"]
    for o in body["other_modes"]:
        assert all("canteen" in tiny.snapshot.stations[s["id"]].kinds for s in o["stations"])
    found = c.get("/nearest", params={"lon": lon, "lat": lat, "mode": "ebike"}).json()
    assert found["count"] > 0 and "other_modes" not in found


def test_nav_asks_for_the_links_of_the_apps_wanted(client):
    """`nav`: the links of the apps asked for (default AMap alone, `all` every app), the AMap link always in
    amap_nav_url; an unknown app is a 422 naming it."""
    q = {"lon": WJC_GCJ[0], "lat": WJC_GCJ[1], "crs": "gcj02", "k": 2}
    every = client.get("/nearest", params={**q, "nav": "all"}).json()["features"]
    for nav, want in (({}, ["amap"]), ({"nav": "baidu"}, ["baidu"]), ({"nav": "Tencent,amap"}, ["tencent", "amap"])):
        feats = client.get("/nearest", params={**q, **nav}).json()["features"]
        assert [f["id"] for f in feats] == [f["id"] for f in every]
        for f, g in zip(feats, every, strict=True):
            urls = {k: v for k, v in f["properties"]["nav_urls"].items() if v is not None}
            assert list(urls) == want and all(urls[a] == g["properties"]["nav_urls"][a] for a in want)
            assert f["properties"]["amap_nav_url"] == g["properties"]["nav_urls"]["amap"]
    r = client.get("/nearest", params={**q, "nav": "amap,gaode"})
    assert r.status_code == 422 and "gaode" in r.text and "nav" in r.text


def test_nearest_fast_path_answers_as_the_full_app(state, monkeypatch):
    """`GET /nearest` is answered by `NearestFastPath` before FastAPI's layers: for plain answers and
    for every kind of error, the same status, headers and bytes as the app without it (which answers the
    errors in both)."""
    from geomap.api._nearest_fast import NearestFastPath

    fast = create_app(state)
    full = create_app(state)
    full.nearest_fast.enabled = False
    at = "2026-12-05T20:00"
    g = state.graphs["ebike"]
    rng = np.random.default_rng(3)
    idx = rng.choice(g.n_nodes, 12, replace=False)
    lon, lat = coords.from_wgs84(g.node_lon[idx] + 1e-4, g.node_lat[idx], dst="gcj02")
    queries = [f"lon={x:.6f}&lat={y:.6f}&crs=gcj02&k={1 + n % 5}&at={at}"
               for n, (x, y) in enumerate(zip(lon, lat, strict=True))]
    queries += [queries[0] + "&mode=walk&nav=all", queries[1] + "&route=false&kind=爱心驿站",
                queries[2] + "&mode=straight&out_crs=bd09", queries[3] + "&open_at=now",
                # errors: invalid values, unknown and repeated parameters, far away, nothing matching, too long
                "lon=500&lat=31.3", "lon=121.5&lat=31.3&k=0", "lon=121.5&lat=31.3&bogus=1",
                "lon=121.5&lon=121.6&lat=31",
                "lon=121.8&lat=31.5&crs=gcj02", f"{queries[4]}&amenity=shower&kind=司机之家", "lat=31.3",
                "lon=121.51&lat=31.29&nav=maps.me", "lon=121.51&lat=31.29&" + "x" * 5000]
    answered = []
    plain = NearestFastPath._answer
    monkeypatch.setattr(NearestFastPath, "_answer", lambda self, scope: answered.append(plain(self, scope))
                        or answered[-1])
    statuses = set()
    with TestClient(fast) as a, TestClient(full) as b:
        for qs in queries:
            ra, rb = a.get("/nearest?" + qs), b.get("/nearest?" + qs)
            assert (ra.status_code, ra.content) == (rb.status_code, rb.content), qs
            assert dict(ra.headers) == dict(rb.headers), qs
            statuses.add(ra.status_code)
    assert statuses >= {200, 414, 422}, statuses
    n_ok = sum(1 for qs in queries if TestClient(full).get("/nearest?" + qs).status_code == 200)
    assert sum(a is not None for a in answered) == n_ok >= 16  # every plain answer came from the fast path
