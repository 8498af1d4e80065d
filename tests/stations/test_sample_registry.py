"""The committed Yangpu sample registry: valid, complete, inside the OSM extract, marked as a sample."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from geomap import coords
from geomap.stations.validate import load_stations


def _osm_node_extent(osm_path):
    lons, lats = [], []
    for _, el in ET.iterparse(osm_path):
        if el.tag == "node":
            lons.append(float(el.get("lon")))
            lats.append(float(el.get("lat")))
        el.clear()
    return min(lons), min(lats), max(lons), max(lats)


def test_sample_imports_cleanly_with_all_kinds(sample_csv):
    stations, report = load_stations(sample_csv, crs="gcj02")
    assert report.errors == []
    assert [p.code for p in report.warnings] == []
    assert len(stations) >= 40
    kinds = {k for ks in stations["kinds"] for k in ks}
    assert {"outdoor_station", "driver_home", "canteen", "rest_point"} <= kinds
    assert stations["opening_hours"].notna().all()
    canteens = stations[[("canteen" in ks) for ks in stations["kinds"]]]
    assert canteens["meal_price_yuan"].notna().all()
    homes = stations[[("driver_home" in ks) for ks in stations["kinds"]]]
    assert sum("truck_parking" in a for a in homes["amenities"]) >= len(homes) / 2  # most serve truck drivers


def test_sample_points_lie_in_the_osm_extract(sample_csv, yangpu_osm_xml):
    stations, _ = load_stations(sample_csv, crs="gcj02")
    w, s, e, n = _osm_node_extent(yangpu_osm_xml)
    assert ((stations["lon"] > w) & (stations["lon"] < e) & (stations["lat"] > s) & (stations["lat"] < n)).all()
    # the file really is GCJ-02: read as WGS84 by mistake, points shift by the ~500 m Shanghai offset
    raw = pd.read_csv(sample_csv, encoding="utf-8-sig")
    shift = coords.haversine_m(raw["经度"], raw["纬度"], stations["lon"], stations["lat"])
    assert np.all((shift > 400) & (shift < 650))


def test_sample_is_marked_as_illustrative(sample_csv):
    readme = (sample_csv.parent / "README.md").read_text(encoding="utf-8")
    assert "示例数据" in readme and "非官方" in readme
    assert "GCJ-02" in readme
