"""Planner inputs: 街道 areas (user file, rebuilt from clipped boundary ways), census residents, demand files."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geomap.coords import from_wgs84
from geomap.planning.demand import points_layer, residents_layer
from geomap.planning.subdistricts import (
    _way_sides,
    assign_subdistrict,
    attach_population,
    read_population,
    read_subdistricts,
    rebuild_from_ways,
)

ROOT = Path(__file__).resolve().parents[2]
LON0, LAT0 = 121.50, 31.30


def _ways(rows: list[tuple[tuple[str, ...], list[tuple[float, float]]]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"way_id": range(len(rows)), "names": [r[0] for r in rows]},
                            geometry=[shapely.LineString(r[1]) for r in rows], crs="EPSG:4326")


def test_way_sides_from_a_three_way_junction() -> None:
    """A junction at the origin: way 0 goes east (A north of it, C south), way 1 goes north-west
    (A | B), way 2 goes south-west (B | C). Ways stored in both directions."""
    o = (LON0, LAT0)
    ways = _ways([
        (("A", "C"), [o, (LON0 + 0.01, LAT0)]),  # leaves the junction eastwards: left (north) is A
        (("A", "B"), [(LON0 - 0.01, LAT0 + 0.01), o]),  # arrives at the junction from the north-west
        (("B", "C"), [o, (LON0 - 0.01, LAT0 - 0.01)]),
    ])
    sides = _way_sides(ways)
    assert sides[0] == ("A", "C")
    # way 1 travels south-east toward the junction: its left is north-east (A), right south-west (B)
    assert sides[1] == ("A", "B")
    # way 2 travels south-west: its left is south-east (C), its right north-west (B)
    assert sides[2] == ("C", "B")
    area = shapely.box(LON0 - 0.02, LAT0 - 0.02, LON0 + 0.02, LAT0 + 0.02)
    sd = rebuild_from_ways(ways, area, resolution=10)
    got = assign_subdistrict(sd, [LON0 + 0.005, LON0 - 0.01, LON0 + 0.005], [LAT0 + 0.005, LAT0, LAT0 - 0.005])
    assert got.tolist() == ["A", "B", "C"]


def test_user_boundary_file_in_gcj02(tmp_path: Path) -> None:
    square = shapely.box(LON0, LAT0, LON0 + 0.01, LAT0 + 0.01)
    gx, gy = from_wgs84(np.asarray(square.exterior.coords)[:, 0], np.asarray(square.exterior.coords)[:, 1],
                        dst="gcj02")
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"街道": "测试街道"},
          "geometry": {"type": "Polygon", "coordinates": [np.column_stack([gx, gy]).tolist()]}}]}
    path = tmp_path / "sd.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    sd = read_subdistricts(path, crs="gcj02")
    assert sd["name"].tolist() == ["测试街道"]
    # back in WGS84 the polygon is the square again (sub-centimetre)
    assert shapely.hausdorff_distance(sd.geometry.iloc[0], square) < 1e-7
    with pytest.raises(ValueError, match="no 街道 name column"):
        read_subdistricts(path, name_column="nope")


def test_residents_spread_over_footprints_and_fallback_to_streets() -> None:
    a = shapely.box(LON0, LAT0, LON0 + 0.01, LAT0 + 0.01)
    b = shapely.box(LON0 + 0.01, LAT0, LON0 + 0.02, LAT0 + 0.01)
    sds = gpd.GeoDataFrame({"name": ["A", "B", "C"], "population_here": [300.0, 100.0, np.nan]},
                           geometry=[a, b, shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    small = shapely.box(LON0 + 0.001, LAT0 + 0.001, LON0 + 0.0015, LAT0 + 0.0015)
    big = shapely.box(LON0 + 0.005, LAT0 + 0.005, LON0 + 0.006, LAT0 + 0.006)  # 4× the small one
    shop = shapely.box(LON0 + 0.007, LAT0 + 0.007, LON0 + 0.008, LAT0 + 0.008)
    buildings = gpd.GeoDataFrame({"building": ["apartments", "yes", "retail"],
                                  "residential_landuse": [False, True, False]},
                                 geometry=[small, big, shop], crs="EPSG:4326")
    streets = (np.array([LON0 + 0.012, LON0 + 0.018]), np.array([LAT0 + 0.005] * 2), np.array([100.0, 300.0]))
    lay = residents_layer(sds, buildings, street_points=streets)
    df = pd.DataFrame({"sd": lay.subdistrict, "w": lay.weight})
    assert df.groupby("sd")["w"].sum().to_dict() == pytest.approx({"A": 300.0, "B": 100.0})
    a_w = np.sort(lay.weight[lay.subdistrict == "A"])
    assert a_w == pytest.approx([60.0, 240.0], rel=0.01)  # footprint 1 : 4 (the retail one is not housing)
    assert np.sort(lay.weight[lay.subdistrict == "B"]) == pytest.approx([25.0, 75.0])  # street length 1 : 3
    assert any("C：人口普查表中没有该街道的数字" in n for n in lay.notes)


def test_demand_points_file_gcj02_with_weights_and_bad_rows(tmp_path: Path) -> None:
    sds = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.box(LON0 - 0.1, LAT0 - 0.1, LON0 + 0.1, LAT0 + 0.1)],
                           crs="EPSG:4326")
    lon, lat = from_wgs84(np.array([LON0, LON0 + 0.01]), np.array([LAT0, LAT0 + 0.01]), dst="gcj02")
    path = tmp_path / "orders.csv"
    pd.DataFrame({"经度": lon, "纬度": lat, "orders": [12, 30]}).to_csv(path, index=False)
    lay = points_layer(path, subdistricts=sds, crs="gcj02", weight_column="orders")
    np.testing.assert_allclose(lay.lon, [LON0, LON0 + 0.01], atol=1e-8)
    np.testing.assert_allclose(lay.weight, [12, 30])
    assert lay.subdistrict.tolist() == ["A", "A"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"lon": [LON0, LON0], "lat": [LAT0, LAT0], "orders": [3, "many"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="row 3: weight"):
        points_layer(bad, subdistricts=sds, weight_column="orders")
    bad.write_text("lon,lat\n121.5,31.3\n,31.3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 3: missing or invalid coordinate"):
        points_layer(bad, subdistricts=sds)


@pytest.mark.realdata
def test_real_extract_rebuilt_subdistricts_agree_with_the_boundary_ways() -> None:
    """On the real extract (clipped relations): a point 60 m either side of the middle of every boundary
    way (H3 cells of 25 m edge) falls in one of the two 街道 that way separates, and the two sides differ."""
    from geomap.planning._osm_features import read_osm_features
    from geomap.planning.study import load_study

    pbf = ROOT / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
    if not pbf.exists():
        pytest.skip("sample OSM extract missing: run `make data`")
    feats = read_osm_features(pbf)
    assert len(feats.subdistrict_areas) == 0 and len(feats.subdistrict_ways) >= 6
    census = ROOT / "data" / "yangpu" / "population" / "yangpu_subdistricts_2020.csv"
    study = load_study(osm_path=pbf, population=census)
    sds = study.subdistricts
    assert set(sds["name"]) >= {"五角场街道", "四平路街道", "长海路街道"}
    ways = feats.subdistrict_ways
    metric = ways.to_crs(ways.estimate_utm_crs())
    checked = 0
    for line, names in zip(metric.geometry, ways["names"], strict=True):
        mid = line.interpolate(0.5, normalized=True)
        ahead = line.interpolate(min(line.length, line.project(mid) + 5))
        d = np.array([ahead.x - mid.x, ahead.y - mid.y])
        d /= np.linalg.norm(d)
        normal = np.array([-d[1], d[0]]) * 60
        pts = gpd.GeoSeries([shapely.Point(mid.x + normal[0], mid.y + normal[1]),
                             shapely.Point(mid.x - normal[0], mid.y - normal[1])], crs=metric.crs).to_crs(4326)
        if not shapely.contains_xy(study.study_area, pts.x.values, pts.y.values).all():
            continue  # this way runs outside the study area (the extract's street network)
        checked += 1
        got = assign_subdistrict(sds, pts.x.values, pts.y.values)
        assert set(got) == set(names), (names, got)
    assert checked >= 6
    # census: 五角场街道 lies wholly in the extract, its residents are the census figure
    pop = read_population(ROOT / "data" / "yangpu" / "population" / "yangpu_subdistricts_2020.csv")
    with_pop = attach_population(sds[["name", "source", "geometry"]], pop)
    row = with_pop.set_index("name").loc["五角场街道"]
    assert row["population_here"] == pytest.approx(144_700, rel=0.01)
    res = study.layer("residents")
    placed = pd.Series(res.weight).groupby(res.subdistrict).sum()
    expect = with_pop.set_index("name")["population_here"].dropna()
    np.testing.assert_allclose(placed.reindex(expect.index).to_numpy(float), expect.to_numpy(float), rtol=1e-9)
    assert len(study.layer("restaurants")) == 45  # 24 restaurants, 15 cafés, 6 fast food in the extract
