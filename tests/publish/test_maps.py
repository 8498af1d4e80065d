"""The published service map (geomap.publish.maps), checked without a browser: the data written into the page,
its self-containment, escaping, coordinate systems, service-circle bands and the gap-grid contract.
Browser behaviour is in test_maps_browser.py."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geomap import coords, vocab
from geomap.cli.main import main as cli_main
from geomap.network.graph import StreetGraph
from geomap.network.isochrones import isochrones
from geomap.publish.maps import (
    ASSETS,
    COORD_SCALE,
    GAP_COLUMNS,
    MapError,
    _extract_data,
    _fa_codepoints,
    _icon_css,
    gap_payload,
    load_gaps,
    render_map,
    service_bands,
    station_payload,
    street_payload,
    write_map,
)
from tests._workspaces import sample_workspace

ROOT = Path(__file__).resolve().parents[2]
PBF = ROOT / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


def stations_frame(n: int = 30, seed: int = 1) -> pd.DataFrame:
    """A small station table in the registry's shape (WGS84), around Wujiaochang."""
    rng = np.random.default_rng(seed)
    kinds = vocab.kinds().keys()
    ams = vocab.amenities().keys()
    rows = []
    for i in range(n):
        rows.append({
            "id": f"T{i:03d}", "name": f"测试站点{i}",
            "kinds": [kinds[i % len(kinds)]] + ([kinds[(i + 1) % len(kinds)]] if i % 5 == 0 else []),
            "lon": 121.49 + rng.random() * 0.03, "lat": 31.29 + rng.random() * 0.02,
            "address": f"测试路{i}号", "district": "杨浦区", "subdistrict": "五角场街道" if i % 2 else "殷行街道",
            "operator": "测试工会", "phone": "021-6555 0112" if i % 3 else None,
            "opening_hours": ["24/7", "Mo-Fr 08:30-17:00", "22:00-06:00", None][i % 4],
            "opening_hours_raw": ["24小时", "周一至周五8:30-17:00", "22:00-次日6:00", "看情况"][i % 4],
            "amenities": list(rng.choice(ams, size=3, replace=False)),
            "meal_price_yuan": 12.0 if i % 4 == 1 else np.nan,
            "source": "test",
        })
    return pd.DataFrame(rows)


def grid_graph(n: int = 7, step_m: float = 200.0, speed_kmh: float = 15.0) -> StreetGraph:
    """An n×n street grid (WGS84) around Wujiaochang, every street both ways."""
    lon0, lat0 = 121.50, 31.30
    dlat = step_m / 111_320.0
    dlon = step_m / (111_320.0 * np.cos(np.radians(lat0)))
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    lon = (lon0 + jj * dlon).ravel()
    lat = (lat0 + ii * dlat).ravel()
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return StreetGraph.from_arrays(node_lon=lon, node_lat=lat, edge_u=u, edge_v=v, speed_kmh=speed_kmh, mode="ebike")


def gap_frame(stations: pd.DataFrame, *, res: int = 9) -> gpd.GeoDataFrame:
    """A gap grid following the `geomap gaps` contract: H3 cells over the stations' box, travel minutes from
    the straight-line distance at walking pace (5 km/h), covered within 5 minutes, null beyond 10 minutes,
    ranked by demand among uncovered cells."""
    import h3

    w, s = stations.lon.min() - 0.01, stations.lat.min() - 0.01
    e, n = stations.lon.max() + 0.01, stations.lat.max() + 0.01
    poly = h3.LatLngPoly([(s, w), (s, e), (n, e), (n, w)])
    cells = sorted(h3.polygon_to_cells(poly, res))
    geoms, props = [], []
    rng = np.random.default_rng(3)
    for c in cells:
        ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(c)]
        geoms.append(shapely.Polygon(ring))
        lat, lng = h3.cell_to_latlng(c)
        d = coords.haversine_m(lng, lat, stations.lon.to_numpy(), stations.lat.to_numpy()).min()
        tmin = float(d / (5_000 / 60))
        props.append({"h3": c, "subdistrict": "五角场街道", "travel_min": tmin if tmin <= 10 else None,
                      "covered": tmin <= 5, "residents": float(rng.integers(0, 3000)),
                      "restaurants": float(rng.integers(0, 40))})
    gdf = gpd.GeoDataFrame(props, geometry=geoms, crs=4326)
    gdf["demand"] = gdf.residents / 100 + gdf.restaurants
    unc = ~gdf.covered
    gdf["gap_rank"] = pd.Series(pd.NA, index=gdf.index, dtype="Int64")
    gdf.loc[unc, "gap_rank"] = gdf.loc[unc, "demand"].rank(ascending=False, method="first").astype(int)
    return gdf


def _decode(payload: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.cumsum(payload["x"]) / payload["scale"], np.cumsum(payload["y"]) / payload["scale"]


# --- station payload ---------------------------------------------------------------------------------------

def test_station_payload_round_trip() -> None:
    df = stations_frame(200)
    p = station_payload(df)
    assert p["n"] == 200
    lon, lat = _decode(p)
    by_id = df.set_index("id")
    assert sorted(p["id"]) == sorted(df["id"])
    ref = by_id.loc[p["id"]]
    assert np.abs(lon - ref.lon.to_numpy()).max() <= 0.5 / COORD_SCALE + 1e-12
    assert np.abs(lat - ref.lat.to_numpy()).max() <= 0.5 / COORD_SCALE + 1e-12
    kv, av = vocab.kinds(), vocab.amenities()
    for i, sid in enumerate(p["id"]):
        assert kv.keys_of(p["kind"][i]) == [k for k in kv.terms if k in ref.loc[sid, "kinds"]]
        assert set(av.keys_of(p["am"][i])) == set(ref.loc[sid, "amenities"])
        assert p["name"][i] == ref.loc[sid, "name"]
        h = p["hours"][i]
        osm, raw = ref.loc[sid, "opening_hours"], ref.loc[sid, "opening_hours_raw"]
        assert p["hoursTable"][h] == [osm if isinstance(osm, str) else "", raw]
        assert p["places"][p["sub"][i]] == ref.loc[sid, "subdistrict"]
        price = ref.loc[sid, "meal_price_yuan"]
        prices = dict(zip(p["price"]["i"], p["price"]["v"], strict=True))
        assert prices.get(i) == (None if np.isnan(price) else price)


def test_station_payload_is_compact_z_ordered() -> None:
    """Neighbours in the page are neighbours on the map: most coordinate deltas are small integers."""
    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame({"id": [str(i) for i in range(n)], "name": ["站"] * n, "kinds": [["canteen"]] * n,
                       "lon": 100 + rng.random(n) * 20, "lat": 25 + rng.random(n) * 15})
    p = station_payload(df)
    raw_digits = np.mean([len(str(round(v * COORD_SCALE))) for v in df.lon])
    delta_digits = np.mean([len(str(d)) for d in p["x"]])
    assert delta_digits < raw_digits - 1.5


def test_station_payload_gcj02_shift() -> None:
    df = stations_frame(20)
    p = station_payload(df, crs="gcj02")
    lon, lat = _decode(p)
    ref = df.set_index("id").loc[p["id"]]
    glon, glat = coords.from_wgs84(ref.lon.to_numpy(), ref.lat.to_numpy(), dst="gcj02")
    assert np.abs(lon - glon).max() <= 0.5 / COORD_SCALE + 1e-12
    assert np.abs(lat - glat).max() <= 0.5 / COORD_SCALE + 1e-12
    # and the shift is real (hundreds of metres in Shanghai), so the page is not just WGS84
    assert coords.haversine_m(lon, lat, ref.lon.to_numpy(), ref.lat.to_numpy()).min() > 300


def test_station_payload_rejects_missing_coordinates() -> None:
    df = stations_frame(5)
    df.loc[2, "lat"] = np.nan
    with pytest.raises(MapError, match="没有有效坐标"):
        station_payload(df)


# --- the page ------------------------------------------------------------------------------------------------

class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v is not None:
                self.refs.append((tag, k, v))


def _page(df: pd.DataFrame, **kw) -> str:
    kw.setdefault("layers", "stations")
    kw.setdefault("streets", False)
    return render_map(df, **kw)


def test_page_is_self_contained() -> None:
    page = _page(stations_frame(), tiles="none")
    p = _Refs()
    p.feed(page)
    assert p.refs == []  # no <script src>, <link href>, <img src>
    assert "link" not in p.tags
    # every url() in the styles is a data URI
    for url in re.findall(r"url\(([^)]*)\)", page):
        assert url.strip("'\"").startswith(("data:", "#default#VML")), url
    assert "@import" not in page
    assert "sourceMappingURL" not in page
    for host in ("jsdelivr", "unpkg.com", "cdnjs", "bootstrapcdn", "googleapis", "code.jquery", "fonts.g"):
        assert host not in page  # no CDN or font host anywhere
    for lib in ("Leaflet 1.9.4", "Supercluster 8.0.1", "KDBush", "Font Awesome 4.7.0"):
        assert lib in page  # licences kept in the file
    lic = (ASSETS / "LICENSES").read_text(encoding="utf-8")
    assert "BSD 2-Clause" in lic and "ISC License" in lic and "SIL Open Font License" in lic


def test_page_escapes_station_text() -> None:
    df = stations_frame(5)
    df.loc[0, "name"] = HOSTILE
    df.loc[1, "address"] = "</script><img src=y onerror=alert(3)>"
    page = _page(df)
    assert "<img" not in page and "onerror=alert(3)>" not in page
    assert page.count("</script>") == page.count("<script")  # nothing closes a script early
    data = (_extract_data(page))
    assert HOSTILE in data["stations"]["name"]
    assert "</script><img src=y onerror=alert(3)>" in data["stations"]["addr"]


def test_page_title_escaped() -> None:
    page = _page(stations_frame(3), title="<b>杨浦</b>服务地图")
    assert "<title>&lt;b&gt;杨浦&lt;/b&gt;服务地图</title>" in page


@pytest.mark.parametrize(("tiles", "host", "crs"), [
    ("osm", "tile.openstreetmap.org", "wgs84"),
    ("amap", "is.autonavi.com", "gcj02"),
])
def test_tile_providers(tiles: str, host: str, crs: str) -> None:
    page = _page(stations_frame(5), tiles=tiles)
    assert host in page
    data = (_extract_data(page))
    assert data["crs"] == crs
    # the credit in Chinese, once, whatever the tiles: the page's own line, or OSM's tile layer's
    tile_credits = [json.loads(t) for t in re.findall(r'"attribution": ("(?:[^"\\]|\\.)*")', page)]
    assert sum("OpenStreetMap 贡献者</a>" in c for c in [*tile_credits, data["attribution"]]) == 1


def test_tianditu_needs_key_and_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MapError, match="GEOMAP_TIANDITU_KEY"):
        _page(stations_frame(3), tiles="tianditu", tianditu_key=None)
    page = _page(stations_frame(3), tiles="tianditu", tianditu_key="abc123")
    assert "tianditu.gov.cn/vec_w/wmts" in page and "tk=abc123" in page and "cva_w" in page


def test_bad_requests_give_actionable_errors() -> None:
    df = stations_frame(3)
    with pytest.raises(MapError, match="未知的底图"):
        _page(df, tiles="google")
    with pytest.raises(MapError, match="未知的图层"):
        _page(df, layers="stations,heatmap")
    with pytest.raises(MapError, match="--gaps"):
        _page(df, layers="stations,gaps")
    with pytest.raises(MapError, match="出行方式"):
        _page(df, mode="plane")
    with pytest.raises(MapError, match="空的"):
        _page(df.iloc[:0])


def test_icon_font_subset_has_the_vocabulary_icons() -> None:
    from fontTools.ttLib import TTFont

    cps = _fa_codepoints()
    assert cps["home"] == 0xF015 and cps["truck"] == 0xF0D1 and cps["cutlery"] == 0xF0F5
    icons = tuple(sorted({t.icon for voc in (vocab.kinds(), vocab.amenities()) for t in voc.terms.values()}))
    css = _icon_css(icons)
    font = TTFont(io.BytesIO(base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", css).group(1))))
    cmap = font.getBestCmap()
    for name in icons:
        assert name in cps, f"vocabulary icon {name!r} is not a Font Awesome 4 icon"
        assert cps[name] in cmap
        assert f'.gmi-{name}:before{{content:"\\{cps[name]:x}"}}' in css
    assert len(cmap) <= len(set(icons)) + 2  # a subset, not the whole font


# --- gap grid ------------------------------------------------------------------------------------------------

def test_gap_payload_follows_contract(tmp_path: Path) -> None:
    gaps = gap_frame(stations_frame())
    path = tmp_path / "gaps.geojson"
    gaps.to_file(path, driver="GeoJSON")
    loaded = load_gaps(path)
    fc = gap_payload(loaded)
    assert len(fc["features"]) == len(gaps)
    by_h3 = gaps.set_index("h3")
    for f in fc["features"]:
        p = f["properties"]
        ref = by_h3.loc[p["h3"]]
        assert set(p) == set(GAP_COLUMNS)
        if pd.isna(ref.travel_min):
            assert p["travel_min"] is None
        else:
            assert p["travel_min"] == pytest.approx(ref.travel_min, abs=0.01)
        assert p["covered"] == bool(ref.covered)
        assert p["gap_rank"] == (None if pd.isna(ref.gap_rank) else int(ref.gap_rank))
        assert shapely.equals_exact(shapely.geometry.shape(f["geometry"]), by_h3.loc[p["h3"], "geometry"], 1e-6)
    assert any(f["properties"]["travel_min"] is None for f in fc["features"])


def test_gap_contract_violations_are_named(tmp_path: Path) -> None:
    gaps = gap_frame(stations_frame()).drop(columns=["gap_rank", "demand"])
    with pytest.raises(MapError, match="demand, gap_rank"):
        load_gaps(gaps)
    with pytest.raises(MapError, match="找不到空白网格文件"):
        load_gaps(tmp_path / "missing.geojson")


def test_gaps_shift_to_gcj02_with_amap() -> None:
    df = stations_frame(10)
    gaps = gap_frame(df)
    page = _page(df, tiles="amap", layers="stations,gaps", gaps=gaps)
    fc = (_extract_data(page))["gaps"]
    g0 = shapely.geometry.shape(fc["features"][0]["geometry"])
    ref = gaps.set_index("h3").loc[fc["features"][0]["properties"]["h3"], "geometry"]
    expect = shapely.transform(ref, lambda xy: np.column_stack(coords.from_wgs84(xy[:, 0], xy[:, 1], dst="gcj02")))
    assert shapely.equals_exact(g0, expect, 2e-6)


# --- service-circle bands ------------------------------------------------------------------------------------

def test_service_bands_partition_the_isochrone_union() -> None:
    """The bands (rasterised streets traced into polygons) are disjoint rings whose unions are the exact
    union of the stations' service circles (buffered reachable street pieces, geomap.network.isochrones)
    to within the raster's resolution: the outlines differ by at most about half a cell on average, and
    by less as the cell shrinks."""
    from geomap.network.areas import band_polygons
    from geomap.network.nearest import station_labels

    g = grid_graph()
    lon = g.node_lon[[8, 40]]
    lat = g.node_lat[[8, 40]]
    bands = service_bands(g, lon, lat, minutes=[2, 4, 6])
    iso = isochrones(g, lon=lon, lat=lat, minutes=[2, 4, 6], direction="to")
    assert list(bands.minutes) == [2.0, 4.0, 6.0] and list(bands.minutes_lo) == [0.0, 2.0, 4.0]
    metric = coords.local_metric_crs(121.5, 31.3)
    b = bands.to_crs(metric).geometry.to_numpy()
    fine = gpd.GeoSeries(band_polygons(station_labels(g, station_lon=lon, station_lat=lat, k=1).labels,
                                       [2, 4, 6], cell_m=2.0)[0], crs=4326).to_crs(metric).to_numpy()
    for m, k in ((2, 1), (4, 2), (6, 3)):
        want = gpd.GeoSeries([shapely.union_all(iso.geometry[iso.minutes == m].to_numpy())], crs=4326).to_crs(metric)[0]
        got = shapely.union_all(b[:k], grid_size=1e-3)
        off = shapely.symmetric_difference(got, want).area / want.length  # mean outline offset, metres
        assert off < 0.5 * 10.0  # half of the 10 m cell
        assert bands.area_km2.iloc[k - 1] == pytest.approx(want.area / 1e6, rel=0.05)
        fine_got = shapely.union_all(fine[:k], grid_size=1e-3)
        assert shapely.symmetric_difference(fine_got, want).area / want.length < min(0.5 * 2.0, off)
    for i in range(3):
        for j in range(i + 1, 3):
            assert shapely.intersection(b[i], b[j]).area < 1e-6 * b[j].area + 1.0  # disjoint rings
    # a node 2 × 200 m from a station by street (96 s at 15 km/h) lies in the 0-2 minute band
    assert shapely.contains(bands.geometry[0], shapely.Point(g.node_lon[10], g.node_lat[10]))


def test_service_bands_leave_out_stations_off_the_network() -> None:
    g = grid_graph()
    bands = service_bands(g, [g.node_lon[0], 122.5], [g.node_lat[0], 31.9], minutes=[5])
    assert int(bands.stations.iloc[0]) == 1 and not bands.geometry[0].is_empty


# --- streets and the real sample -----------------------------------------------------------------------------

@pytest.mark.realdata
def test_street_payload_from_extract() -> None:
    if not PBF.exists():
        pytest.skip("sample OSM extract missing: run `make data`")
    from geomap.network._osm import read_osm_file

    ways = read_osm_file(PBF)
    p = street_payload(ways, tolerance_m=2.0)
    keys = [c["key"] for c in p["classes"]]
    assert keys == ["path", "minor", "secondary", "major"]
    lines = [np.cumsum(np.asarray(enc).reshape(-1, 2), axis=0) / p["scale"] for c in p["classes"] for enc in c["lines"]]
    pts = np.concatenate(lines)
    # every drawn vertex lies on a street of the extract (within the simplification tolerance + rounding)
    raw = shapely.linestrings(np.column_stack([ways.lon, ways.lat]),
                              indices=np.repeat(np.arange(ways.n_ways), np.diff(ways.offsets)))
    tree = shapely.STRtree(raw)
    sample = pts[:: max(1, len(pts) // 500)]
    _, dist = tree.query_nearest(shapely.points(sample), return_distance=True, all_matches=False)
    assert dist.max() * 111_320 < 3.0
    assert len(pts) < len(ways.lon)  # simplified


@pytest.mark.realdata
def test_sample_map_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from geomap.stations.registry import Registry

    ws = sample_workspace(tmp_path / "yangpu")
    out = tmp_path / "service_map.html"
    assert cli_main(["--workspace", str(ws.root), "map", "--out", str(out), "--tiles", "none"]) == 0
    assert "已写入杨浦区服务地图" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    data = _extract_data(page)
    assert data["stations"]["n"] == len(Registry(ws.registry_path))
    assert data["streets"] and data["bands"]["features"]
    assert data["title"] == "杨浦区新就业形态劳动者服务站点地图" and data["publisher"] == ws.publisher
    assert "<title>杨浦区新就业形态劳动者服务站点地图</title>" in page
    assert cli_main(["--workspace", str(ws.root), "map", "--out", str(tmp_path / "x.html"), "--layers", "gaps"]) == 2
    assert "--gaps" in capsys.readouterr().err


@pytest.mark.realdata
def test_write_map_summary(tmp_path: Path) -> None:
    if not PBF.exists():
        pytest.skip("sample OSM extract missing: run `make data`")
    s = write_map(tmp_path / "m.html", stations_frame(12), tiles="amap", layers="stations")
    assert s.stations == 12 and s.coord_system == "gcj02" and s.layers == ("stations",)
    assert s.size_bytes == (tmp_path / "m.html").stat().st_size
    with pytest.raises(MapError, match=r"\.html"):
        write_map(tmp_path / "m.txt", stations_frame(3), layers="stations", streets=False)


def test_default_layers_without_network_leave_circles_out(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="服务圈"):
        s = write_map(tmp_path / "m.html", stations_frame(5), streets=False)
    assert s.layers == ("stations",)
    with pytest.raises(MapError, match="--layers stations"):
        write_map(tmp_path / "m.html", stations_frame(5), streets=False, layers="stations,circles")


def test_base_streets_read_once_per_extract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A map redrawn after an edit reuses the extract's streets (they do not depend on the stations); a
    changed extract is read again; the pages are the same as when read afresh."""
    import os

    import geomap.publish.maps as maps

    ws = sample_workspace(tmp_path / "w")
    osm = tmp_path / "copy.osm.pbf"
    osm.write_bytes(Path(ws.osm_path).read_bytes())
    reads: list[Path] = []
    real = maps._read_ways
    monkeypatch.setattr(maps, "_read_ways", lambda p: reads.append(Path(p)) or real(p))
    maps._STREETS.clear()
    df = ws.registry.frame()
    first = _page(df, streets=True, tiles="none", osm_path=osm)
    second = _page(df.iloc[:-1], streets=True, tiles="none", osm_path=osm)
    assert len(reads) == 1
    assert _extract_data(first)["streets"] == _extract_data(second)["streets"]
    os.utime(osm, ns=(1, 1))  # the extract changed (as far as anyone can tell)
    third = _page(df, streets=True, tiles="none", osm_path=osm)
    assert len(reads) == 2 and _extract_data(third) == _extract_data(first)
