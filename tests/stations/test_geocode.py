"""Address-only rows (issue 18): geocoded through 高德 / 天地图 web services (a local fake server replaying
their documented answers — no network) or offline from the workspace's OSM extract; each match and its
quality reported, every failure an error on its row with the reason, answers cached.

Documented answers replayed (see geomap/stations/geocode.py): 高德 ``/v3/geocode/geo`` — ``status`` "1" with
``count`` and ``geocodes[].location`` "lng,lat" (GCJ-02), ``level``, ``formatted_address``; ``status`` "0"
with ``info`` / ``infocode`` (10003 DAILY_QUERY_OVER_LIMIT, 10001 INVALID_USER_KEY). 天地图 ``/geocoder``
— ``status`` "0" with ``location.lon/lat/level``, "101" nothing found, "404" error with ``msg``. 天地图 does
not document the answer to a refused key; the fake answers HTTP 403 (Forbidden), as its gateway answers a key
it refuses for tiles (liuxspro/qgis-plugin-tianditu#22).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import osmium
import pandas as pd
import prcoords
import pytest

from geomap import coords
from geomap.cli.main import main
from geomap.stations._osm_places import parse_address, places_from
from geomap.stations.geocode import GeocodeQuery, GeocodeResult
from geomap.stations.schema import StationImportError
from geomap.stations.validate import load_stations
from geomap.workspace import init_workspace
from tests._workspaces import sample_workspace

AMAP_KEY = "amap-test-key-0123456789"
TDT_KEY = "tdt-test-key-9876543210"
TIMEOUT_S = 0.5

# 高德 answers a GCJ-02 point; the station must land at its WGS84 inverse (checked with prcoords, not geomap)
WGS_TRUE = (121.51102, 31.30233)  # a point at 五角场
_gcj = prcoords.wgs_gcj(prcoords.Coords(WGS_TRUE[1], WGS_TRUE[0]))
GCJ_LOCATION = f"{_gcj.lon:.6f},{_gcj.lat:.6f}"


def _amap_found(formatted: str, location: str, level: str) -> dict:
    return {"status": "1", "info": "OK", "infocode": "10000", "count": "1", "geocodes": [{
        "formatted_address": formatted, "country": "中国", "province": "上海市", "citycode": "021", "city": "上海市",
        "district": "杨浦区", "township": [], "neighborhood": {"name": [], "type": []},
        "building": {"name": [], "type": []}, "adcode": "310110", "street": "淞沪路", "number": "1号",
        "location": location, "level": level}]}


AMAP = {
    "杨浦区淞沪路1号": (0.0, 200, _amap_found("上海市杨浦区淞沪路1号", GCJ_LOCATION, "门牌号")),
    "杨浦区火星路999号": (0.0, 200, {"status": "1", "info": "OK", "infocode": "10000", "count": "0", "geocodes": []}),
    "杨浦区淞沪路": (0.0, 200, _amap_found("上海市杨浦区淞沪路", "121.515,31.305", "道路")),
    "杨浦区慢吞吞路8号": (3 * TIMEOUT_S, 200, _amap_found("上海市杨浦区慢吞吞路8号", GCJ_LOCATION, "门牌号")),
    "杨浦区国定路335号": (0.0, 200, {"status": "0", "info": "DAILY_QUERY_OVER_LIMIT", "infocode": "10003"}),
}
TDT = {
    "杨浦区淞沪路1号": (0.0, 200, {"location": {"lon": "121.51102", "lat": "31.30233", "level": "地名地址"},
                               "status": "0", "msg": "ok", "searchVersion": "4.8.0"}),
    "杨浦区火星路999号": (0.0, 200, {"status": "101", "msg": "结果为空", "searchVersion": "4.8.0"}),
    "杨浦区出错路1号": (0.0, 200, {"status": "404", "msg": "服务内部错误"}),
    "杨浦区慢吞吞路8号": (3 * TIMEOUT_S, 200, {"status": "101", "msg": "结果为空"}),
}


class FakeGeocoders:
    """高德 (``/amap/v3/geocode/geo``) and 天地图 (``/tianditu/geocoder``) on 127.0.0.1: each request is
    recorded as (service, query text, key) and answered from the tables above; a wrong key is refused as the
    services do (高德 INVALID_USER_KEY, 天地图 HTTP 403)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.params: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/amap/v3/geocode/geo":
                    service, text, key = "amap", q.get("address", ""), q.get("key", "")
                    delay, status, body = AMAP.get(text, (0.0, 200, {"status": "1", "count": "0", "geocodes": []}))
                    if key != AMAP_KEY:
                        delay, status, body = 0.0, 200, {"status": "0", "info": "INVALID_USER_KEY",
                                                         "infocode": "10001"}
                elif url.path == "/tianditu/geocoder":
                    service, text, key = "tianditu", json.loads(q.get("ds", "{}")).get("keyWord", ""), q.get("tk", "")
                    delay, status, body = TDT.get(text, (0.0, 200, {"status": "101", "msg": "结果为空"}))
                    if key != TDT_KEY:
                        delay, status, body = 0.0, 403, {"msg": "权限验证失败", "code": 1}
                else:
                    self.send_error(404)
                    return
                fake.requests.append((service, text, key))
                fake.params.append(q)
                time.sleep(delay)
                data = json.dumps(body, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def asked(self, service: str) -> list[str]:
        return [t for s, t, _ in self.requests if s == service]


@pytest.fixture
def fake() -> Iterator[FakeGeocoders]:
    f = FakeGeocoders()
    f.thread.start()
    yield f
    f.server.shutdown()
    f.server.server_close()


def _web_workspace(tmp_path: Path, fake: FakeGeocoders, **settings: object):
    """A workspace named 杨浦区 without streets, its web geocoders pointed at the fake server."""
    ws = init_workspace(tmp_path / "yangpu", name="杨浦区")
    return ws.with_settings(**{
        "amap_key": AMAP_KEY, "tianditu_server_key": TDT_KEY, "geocode_timeout_s": TIMEOUT_S,
        "geocode_interval_s": 0.0, "amap_geocode_url": f"{fake.base}/amap/v3/geocode/geo",
        "tianditu_geocode_url": f"{fake.base}/tianditu/geocoder", **settings})


def _csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def _row(name: str, address: str | None, **extra: object) -> dict:
    return {"名称": name, "类型": "工会驿站", "地址": address, "区": "", "经度": None, "纬度": None, **extra}


def _by_row(report) -> dict[int, list]:
    out: dict[int, list] = {}
    for p in report.problems:
        out.setdefault(p.row, []).append(p)
    return out


# --- 高德 -------------------------------------------------------------------------------------------------

def test_amap_match_no_match_timeout_and_quota_each_reported_on_its_row(tmp_path, fake):
    ws = _web_workspace(tmp_path, fake)
    path = _csv(tmp_path / "list.csv", [
        _row("淞沪路驿站", "淞沪路1号"),          # row 2: found, 门牌号
        _row("火星驿站", "火星路999号"),          # row 3: 高德 finds nothing
        _row("慢吞吞驿站", "慢吞吞路8号"),        # row 4: the server answers after the timeout
        _row("国定路驿站", "国定路335号"),        # row 5: DAILY_QUERY_OVER_LIMIT
        _row("政立路驿站", "政立路485号"),        # row 6: not asked any more
        _row("淞沪路整条路驿站", "淞沪路"),       # row 7: in the cache? no: not asked either
    ])
    with pytest.raises(StationImportError):  # errors stop the import without --skip-invalid
        ws.import_file(path, geocode="amap")
    fake.requests.clear()
    stations, report = ws.import_file(path, geocode="amap", skip_invalid=True)
    rows = _by_row(report)

    placed = rows[2][0]
    assert (placed.severity, placed.code) == ("warning", "geocoded")
    assert placed.message == ("无坐标：按地址“杨浦区淞沪路1号”经高德地图定位到“上海市杨浦区淞沪路1号”"
                              "（精度：门牌号，取自本工作区的地理编码缓存）")
    assert [(p.code, p.severity) for p in rows[3]] == [("geocode_no_match", "error")]
    assert "高德地图没有找到“杨浦区火星路999号”" in rows[3][0].message
    assert [p.code for p in rows[4]] == ["geocode_unavailable"] and "超时" in rows[4][0].message
    assert [p.code for p in rows[5]] == ["geocode_unavailable"] and "配额用完" in rows[5][0].message
    assert "DAILY_QUERY_OVER_LIMIT" in rows[5][0].message
    assert [p.code for p in rows[6]] == ["geocode_unavailable"] and "未查询：高德地图配额用完" in rows[6][0].message
    assert "未查询" in rows[7][0].message
    # the first import asked everything up to the quota error; the second answered rows 2-3 from the cache
    # (found / not found are kept), asked the timeout and quota rows again, and never the rows after the quota
    assert fake.asked("amap") == ["杨浦区慢吞吞路8号", "杨浦区国定路335号"]
    assert report.skipped_rows == [3, 4, 5, 6, 7]

    (st,) = stations.to_dict("records")
    assert st["name"] == "淞沪路驿站" and st["source_crs"] == "geocode:amap"
    want = prcoords.gcj_wgs_bored(prcoords.Coords(*map(float, GCJ_LOCATION.split(",")[::-1])))
    assert coords.haversine_m(st["lon"], st["lat"], want.lon, want.lat) < 0.01
    assert coords.haversine_m(st["lon"], st["lat"], *WGS_TRUE) < 0.2  # rounding of the 6 decimals sent
    assert ws.registry.get(st["id"]).source_crs == "geocode:amap"
    assert AMAP_KEY not in report.format()


def test_amap_second_import_asks_nothing_and_changes_nothing(tmp_path, fake):
    ws = _web_workspace(tmp_path, fake, geocoder="amap", geocode_city="上海")  # the workspace's settings
    path = _csv(tmp_path / "list.csv", [_row("淞沪路驿站", "淞沪路1号"), _row("火星驿站", "火星路999号")])
    _, first = ws.import_file(path, skip_invalid=True)
    assert fake.asked("amap") == ["杨浦区淞沪路1号", "杨浦区火星路999号"] and first.added == 1
    assert [q.get("city") for q in fake.params] == ["上海", "上海"]
    assert "取自本工作区的地理编码缓存" not in first.format()
    _, second = ws.import_file(path, skip_invalid=True)
    assert len(fake.requests) == 2  # nothing asked again
    assert second.unchanged == 1 and second.added == 0
    assert "取自本工作区的地理编码缓存" in _by_row(second)[2][0].message
    assert second.codes("error") == ["geocode_no_match"]
    cached = list((ws.cache_dir / "geocode" / "amap").glob("*.json"))
    assert len(cached) == 2 and all(AMAP_KEY not in f.read_text(encoding="utf-8") for f in cached)


def test_amap_road_level_is_not_placed_and_a_bad_key_is_said(tmp_path, fake):
    ws = _web_workspace(tmp_path, fake)
    path = _csv(tmp_path / "list.csv", [_row("淞沪路整条路驿站", "淞沪路")])
    with pytest.raises(StationImportError) as exc:
        ws.import_file(path, geocode="amap")
    (p,) = exc.value.report.errors
    assert p.code == "geocode_imprecise" and "只定位到道路“上海市杨浦区淞沪路”" in p.message
    bad = ws.with_settings(amap_key="wrong-key")
    with pytest.raises(StationImportError) as exc:
        bad.import_file(_csv(tmp_path / "b.csv", [_row("淞沪路驿站", "国权路1号")]), geocode="amap")
    (p,) = exc.value.report.errors
    assert p.code == "geocode_unavailable" and "高德地图 key 无效" in p.message and "INVALID_USER_KEY" in p.message
    assert "wrong-key" not in exc.value.report.format()


# --- 天地图 ------------------------------------------------------------------------------------------------

def test_tianditu_match_no_match_error_and_timeout(tmp_path, fake):
    ws = _web_workspace(tmp_path, fake)
    path = _csv(tmp_path / "list.csv", [
        _row("淞沪路驿站", "淞沪路1号"), _row("火星驿站", "火星路999号"), _row("出错驿站", "出错路1号"),
        _row("慢吞吞驿站", "慢吞吞路8号")])
    stations, report = ws.import_file(path, geocode="tianditu", skip_invalid=True)
    rows = _by_row(report)
    assert rows[2][0].message == "无坐标：按地址“杨浦区淞沪路1号”经天地图定位到“杨浦区淞沪路1号”（精度：地名地址）"
    assert rows[3][0].code == "geocode_no_match" and "天地图没有找到" in rows[3][0].message
    assert rows[4][0].code == "geocode_unavailable" and "天地图出错：服务内部错误" in rows[4][0].message
    assert rows[5][0].code == "geocode_unavailable" and "天地图超时" in rows[5][0].message
    (st,) = stations.to_dict("records")
    # CGCS2000 is taken as WGS84: the point is stored as answered, not shifted
    assert (st["lon"], st["lat"], st["source_crs"]) == (121.51102, 31.30233, "geocode:tianditu")
    assert fake.asked("tianditu") == [
        "杨浦区淞沪路1号", "杨浦区火星路999号", "杨浦区出错路1号", "杨浦区慢吞吞路8号"]


def test_tianditu_refused_key_stops_asking(tmp_path, fake):
    ws = _web_workspace(tmp_path, fake, tianditu_server_key="not-a-key")
    path = _csv(tmp_path / "list.csv", [_row("甲驿站", "淞沪路1号"), _row("乙驿站", "国权路1号")])
    with pytest.raises(StationImportError) as exc:
        ws.import_file(path, geocode="tianditu")
    msgs = [p.message for p in exc.value.report.errors]
    assert "天地图 key 无效" in msgs[0] and "未查询" in msgs[1]
    assert len(fake.asked("tianditu")) == 1


# --- the command --------------------------------------------------------------------------------------------

def test_cli_geocode_flag_overrides_the_setting(tmp_path, fake, capsys, monkeypatch):
    root = init_workspace(tmp_path / "yangpu", name="杨浦区").root
    monkeypatch.setenv("GEOMAP_AMAP_KEY", AMAP_KEY)
    monkeypatch.setenv("GEOMAP_AMAP_GEOCODE_URL", f"{fake.base}/amap/v3/geocode/geo")
    monkeypatch.setenv("GEOMAP_GEOCODE_INTERVAL_S", "0")
    path = _csv(tmp_path / "list.csv", [_row("淞沪路驿站", "淞沪路1号")])
    assert main(["--workspace", str(root), "import", str(path)]) == 2  # setting "none": an error, nothing asked
    err = capsys.readouterr().err
    assert "missing_coordinates" in err and fake.requests == []
    assert main(["--workspace", str(root), "import", str(path), "--geocode", "amap"]) == 0
    out = capsys.readouterr().out
    assert "经高德地图定位到“上海市杨浦区淞沪路1号”（精度：门牌号）" in out and "新增 1 个" in out
    assert AMAP_KEY not in out
    monkeypatch.setenv("GEOMAP_GEOCODER", "amap")
    assert main(["--workspace", str(root), "import", str(path), "--geocode", "none"]) == 2
    assert "missing_coordinates" in capsys.readouterr().err
    monkeypatch.delenv("GEOMAP_AMAP_KEY")
    assert main(["--workspace", str(root), "import", str(path)]) == 2
    assert "GEOMAP_AMAP_KEY" in capsys.readouterr().err


# --- geocoded points and the file's coordinate system ---------------------------------------------------------

class _Fixed:
    """A geocoder that places every row at one WGS84 point."""

    service = "osm"

    def __init__(self, lon: float, lat: float) -> None:
        self.lon, self.lat = lon, lat
        self.asked: list[GeocodeQuery] = []

    def geocode(self, queries):
        self.asked.extend(queries)
        return [GeocodeResult("osm", "address", q.address or "", lon=self.lon, lat=self.lat, matched="x",
                              quality="门牌号") for q in queries]


def test_geocoded_points_are_not_converted_nor_evidence_of_the_files_system(tmp_path):
    path = _csv(tmp_path / "list.csv", [
        {"名称": "甲驿站", "类型": "工会驿站", "地址": "淞沪路1号", "区": "杨浦区", "经度": 121.52, "纬度": 31.30},
        {"名称": "乙驿站", "类型": "工会驿站", "地址": "国权路1号", "区": "杨浦区", "经度": None, "纬度": None}])
    geo = _Fixed(121.50, 31.29)
    stations, report = load_stations(path, crs="gcj02", geocoder=geo)
    assert [q.hint for q in geo.asked] == ["杨浦区"] and geo.asked[0].address == "国权路1号"
    a, b = stations.to_dict("records")
    wlon, wlat = coords.to_wgs84(121.52, 31.30, src="gcj02")
    assert (a["source_crs"], b["source_crs"]) == ("gcj02", "geocode:osm")
    assert coords.haversine_m(a["lon"], a["lat"], float(wlon), float(wlat)) < 1e-3  # the file's row: converted
    assert (b["lon"], b["lat"]) == (121.50, 31.29)  # the geocoded row: WGS84 as answered, not shifted
    # a list of addresses only needs no coordinate system at all
    only = _csv(tmp_path / "only.csv", [{"名称": "乙驿站", "类型": "工会驿站", "地址": "国权路1号"}])
    stations, report = load_stations(only, geocoder=geo)
    assert len(stations) == 1 and report.ok and "unknown_crs" not in report.codes()


# --- offline: the sample's OSM extract --------------------------------------------------------------------

def _extract_places(path: Path) -> tuple[dict[str, tuple[float, float]], list[tuple[str, str, float, float]]]:
    """From the extract itself (pyosmium, not geomap): Chinese names of amenity nodes used exactly once among
    its nodes / ways / relations, with the node's location; and named nodes with a street + plain house
    number."""
    counts: dict[str, int] = {}
    nodes: dict[str, tuple[float, float]] = {}
    houses: list[tuple[str, str, float, float]] = []

    class H(osmium.SimpleHandler):
        def _count(self, tags) -> None:
            if "name" in tags:
                counts[tags["name"]] = counts.get(tags["name"], 0) + 1

        def node(self, n) -> None:
            self._count(n.tags)
            if "amenity" in n.tags and "name" in n.tags:
                nodes[n.tags["name"]] = (n.location.lon, n.location.lat)
            hn, street = n.tags.get("addr:housenumber", ""), n.tags.get("addr:street", "")
            if hn.isdigit() and street.endswith("路") and "name" in n.tags:
                houses.append((street, hn, n.location.lon, n.location.lat))

        def way(self, w) -> None:
            self._count(w.tags)

        def relation(self, r) -> None:
            self._count(r.tags)

    H().apply_file(str(path))
    unique = {k: v for k, v in nodes.items() if counts[k] == 1 and len(k) >= 4
              and any("\u4e00" <= c <= "\u9fff" for c in k)}
    return unique, houses


def test_offline_matcher_on_the_sample_extract(tmp_path):
    ws = sample_workspace(tmp_path / "yangpu", registry=False)
    unique, houses = _extract_places(ws.osm_path)
    name = sorted(unique)[0]
    street, number, hlon, hlat = houses[0]
    path = _csv(tmp_path / "list.csv", [
        {"名称": name, "类型": "休息点", "地址": None},  # row 2: by name
        {"名称": "门牌驿站", "类型": "工会驿站", "地址": f"上海市杨浦区{street}{number}号"},  # row 3: by address
        {"名称": "火星第一爱心驿站", "类型": "工会驿站", "地址": None},  # row 4: not in the extract
        {"名称": "火星第二爱心驿站", "类型": "工会驿站", "地址": f"{street}99999号"},  # row 5: no such number
    ])
    stations, report = ws.import_file(path, geocode="osm", skip_invalid=True)
    rows = _by_row(report)
    got = stations.set_index("name")
    lon, lat = unique[name]
    assert coords.haversine_m(got.at[name, "lon"], got.at[name, "lat"], lon, lat) < 1.0
    assert rows[2][0].code == "geocoded" and f"按名称“{name}”" in rows[2][0].message
    assert "名称完全一致" in rows[2][0].message and "精度：兴趣点" in rows[2][0].message
    assert coords.haversine_m(got.at["门牌驿站", "lon"], got.at["门牌驿站", "lat"], hlon, hlat) < 1.0
    assert "精度：门牌号" in rows[3][0].message and f"{street}{number}" in rows[3][0].message
    assert [p.code for p in rows[4]] == ["geocode_no_match"]
    assert "OSM 数据里没有名为“火星第一爱心驿站”的地点" in rows[4][0].message
    assert [p.code for p in rows[5]] == ["geocode_no_match"] and f"没有“{street}99999号”" in rows[5][0].message
    assert set(stations["source_crs"]) == {"geocode:osm"}


# --- the offline matcher's rules on a made-up extract ---------------------------------------------------

def _pts(*rows: tuple[str, dict, float, float, float]):
    return places_from({"osm": o, "tags": t, "lon": x, "lat": y, "extent_m": e, "area": e > 0}
                       for o, t, x, y, e in rows)


def test_matcher_is_exact_or_containment_never_a_guess():
    far = 0.01  # about 1 km
    p = _pts(("node/1", {"name": "全家便利店（国定路店）", "shop": "convenience"}, 121.50, 31.30, 0),
             ("node/2", {"name": "星巴克", "amenity": "cafe"}, 121.51, 31.30, 0),
             ("node/3", {"name": "杨浦公园", "leisure": "park"}, 121.52, 31.27, 0),
             ("node/4", {"name": "杨浦公园", "amenity": "toilets"}, 121.52 + far, 31.27, 0),
             ("way/5", {"name": "复旦大学", "amenity": "university"}, 121.50, 31.29, 900.0),
             ("node/6", {"addr:street": "密云路454弄 Lane 454 of Miyun Road", "addr:housenumber": "12",
                         "name": "某楼"}, 121.53, 31.28, 0),
             ("node/7", {"addr:street": "政民路", "addr:housenumber": "194-196"}, 121.54, 31.28, 0),
             ("node/8", {"name": "五角场", "place": "neighbourhood"}, 121.51, 31.30, 0),
             ("node/9", {"name": "国定路", "highway": "bus_stop"}, 121.51, 31.30, 0))
    m = p.match(name="全家便利店(国定路店)", address=None)  # half-width brackets: equal after normalising
    assert m.place.osm == "node/1" and m.how == "名称完全一致"
    m = p.match(name="全家便利店（国定路店）爱心驿站", address=None)
    assert m.place.osm == "node/1" and m.how == "名称包含（非完全一致）"
    assert p.match(name="星巴克爱心驿站", address=None).failure == "no_match"  # 3 characters name nothing
    m = p.match(name="杨浦公园", address=None)
    assert m.failure == "ambiguous" and "2 处" in m.reason
    m = p.match(name="复旦大学", address=None)
    assert m.failure == "imprecise" and "1,800 m" in m.reason
    m = p.match(name=None, address="上海市杨浦区密云路454弄12号3楼")
    assert m.place.osm == "node/6" and m.quality == "门牌号"
    assert p.match(name=None, address="政民路195号").place.osm == "node/7"
    assert p.match(name=None, address="政民路197号").failure == "no_match"
    assert p.match(name="五角场", address=None).failure == "no_match"  # place=* and bus stops are not places
    assert p.match(name="国定路", address=None).failure == "no_match"
    m = p.match(name="全家便利店（国定路店）", address="密云路454弄12号")  # they disagree by ~3 km
    assert m.place is None and m.failure == "ambiguous" and "相距" in m.reason


@pytest.mark.parametrize(("text", "street", "lane", "number"), [
    ("上海市杨浦区淞沪路1号", "上海市杨浦区淞沪路", None, (1, 1)),
    ("淞沪路 １ 号", "淞沪路", None, (1, 1)),
    ("密云路454弄12号2楼", "密云路", 454, (12, 12)),
    ("国定路335号2号楼", "国定路", None, (335, 335)),
    ("黄兴路2065弄", "黄兴路", 2065, None),
    ("政民路194～196号", "政民路", None, (194, 196)),
])
def test_parse_address(text, street, lane, number):
    a = parse_address(text)
    assert (a.street, a.lane, a.number) == (street, lane, number)


def test_unparsable_addresses():
    assert parse_address("五角场万达广场") is None and parse_address("") is None and parse_address(None) is None
