"""Coordinate systems checked against two independent implementations and against real published data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import coord_convert.transform as cc
import numpy as np
import prcoords
import pytest
import shapely
from pyproj import Transformer

from geomap import coords

RNG = np.random.default_rng(20261123)
# Random points over mainland China's populated part (inside the GCJ-02 box)
LON = RNG.uniform(98.0, 125.0, 2000)
LAT = RNG.uniform(20.0, 45.0, 2000)


def _metres(lon1, lat1, lon2, lat2):
    return coords.haversine_m(lon1, lat1, lon2, lat2)


def _pr(fn, lon, lat):
    out = [fn(prcoords.Coords(la, lo)) for lo, la in zip(lon, lat, strict=True)]
    return np.array([c.lon for c in out]), np.array([c.lat for c in out])


@pytest.mark.parametrize(("src", "dst", "fn"), [
    ("wgs84", "gcj02", prcoords.wgs_gcj), ("gcj02", "bd09", prcoords.gcj_bd), ("wgs84", "bd09", prcoords.wgs_bd),
])
def test_forward_matches_prcoords(src, dst, fn):
    """prcoords (public-domain, independent code) gives the same forward transform to < 0.1 mm."""
    lon, lat = coords.transform(LON, LAT, src=src, dst=dst)
    assert _metres(lon, lat, *_pr(fn, LON, LAT)).max() < 1e-4


@pytest.mark.parametrize(("src", "dst", "fwd", "bored"), [
    ("gcj02", "wgs84", prcoords.wgs_gcj, prcoords.gcj_wgs_bored),
    ("bd09", "gcj02", prcoords.gcj_bd, prcoords.bd_gcj_bored),
    ("bd09", "wgs84", prcoords.wgs_bd, prcoords.bd_wgs_bored),
])
def test_inverse_checked_by_independent_forward(src, dst, fwd, bored):
    """Our inverse, pushed through prcoords' forward transform, lands back on the input (< 1 mm).

    prcoords' own iterative inverse stops at 1e-5 degree steps, so it agrees with ours only to a few cm.
    """
    lon, lat = coords.transform(LON, LAT, src=src, dst=dst)
    assert _metres(*_pr(fwd, lon, lat), LON, LAT).max() < 1e-3
    b_lon, b_lat = _pr(bored, LON[:300], LAT[:300])
    assert _metres(lon[:300], lat[:300], b_lon, b_lat).max() < 0.05


@pytest.mark.parametrize(("src", "dst", "fn"), [
    ("wgs84", "gcj02", cc.wgs2gcj), ("gcj02", "bd09", cc.gcj2bd), ("wgs84", "bd09", cc.wgs2bd),
])
def test_forward_matches_coord_convert(src, dst, fn):
    """A second independent implementation (coord-convert) of the published forward formulas."""
    lon, lat = coords.transform(LON, LAT, src=src, dst=dst)
    exp = np.array([fn(lo, la) for lo, la in zip(LON, LAT, strict=True)])
    assert _metres(lon, lat, exp[:, 0], exp[:, 1]).max() < 1e-4


def test_inverse_matches_coord_convert():
    """coord-convert's own iterative gcj2wgs / bd2wgs agree with ours to < 1 cm."""
    g_lon, g_lat = coords.transform(LON, LAT, src="wgs84", dst="gcj02")
    ours = coords.transform(g_lon, g_lat, src="gcj02", dst="wgs84")
    theirs = np.array([cc.gcj2wgs(lo, la) for lo, la in zip(g_lon, g_lat, strict=True)])
    assert _metres(*ours, theirs[:, 0], theirs[:, 1]).max() < 0.01
    assert _metres(*ours, LON, LAT).max() < 1e-3


@pytest.mark.parametrize(("a", "b"), [("wgs84", "gcj02"), ("wgs84", "bd09"), ("gcj02", "bd09")])
def test_round_trip_sub_centimetre(a, b):
    lon, lat = coords.transform(LON, LAT, src=a, dst=b)
    back = coords.transform(lon, lat, src=b, dst=a)
    assert _metres(*back, LON, LAT).max() < 1e-3  # well under 1 cm


def test_offset_size_in_shanghai():
    """The GCJ-02 offset in Shanghai is a few hundred metres to the east-south-east (published ~500 m)."""
    lon, lat = coords.transform(121.4737, 31.2304, src="wgs84", dst="gcj02")
    d = _metres(121.4737, 31.2304, lon, lat)
    assert 400 < d < 650
    assert lon > 121.4737 and lat < 31.2304


def test_outside_china_untouched():
    pts_lon = np.array([2.35, -74.0, 139.69, 151.2])   # Paris, New York, Tokyo, Sydney
    pts_lat = np.array([48.85, 40.7, 35.69, -33.87])
    for a in coords.COORD_SYSTEMS:
        for b in coords.COORD_SYSTEMS:
            lon, lat = coords.transform(pts_lon, pts_lat, src=a, dst=b)
            np.testing.assert_array_equal(lon, pts_lon)
            np.testing.assert_array_equal(lat, pts_lat)


def test_shapes_scalars_and_nan():
    lon, _ = coords.transform(121.5, 31.3, src="gcj02", dst="wgs84")
    assert np.ndim(lon) == 0
    grid_lon, grid_lat = np.meshgrid(np.linspace(120, 122, 3), np.linspace(30, 32, 4))
    out = coords.transform(grid_lon, grid_lat, src="wgs84", dst="bd09")
    assert out[0].shape == (4, 3)
    nan_out = coords.transform([np.nan, 121.5], [31.0, 31.3], src="gcj02", dst="wgs84")
    assert np.isnan(nan_out[0][0]) and np.isfinite(nan_out[0][1])


def test_crs_names():
    assert coords.normalize_crs("GCJ-02") == "gcj02"
    assert coords.normalize_crs("BD09") == "bd09"
    assert coords.normalize_crs("EPSG:4326") == "wgs84"
    with pytest.raises(ValueError, match="wgs84, gcj02, bd09"):
        coords.normalize_crs("utm51")


def test_haversine_against_pyproj_geod():
    """Sphere vs ellipsoid: within 0.5 % (the sphere's known error), on random pairs."""
    from pyproj import Geod
    lon2, lat2 = LON + RNG.normal(0, 0.05, LON.size), LAT + RNG.normal(0, 0.05, LAT.size)
    _, _, geod = Geod(ellps="WGS84").inv(LON, LAT, lon2, lat2)
    ours = coords.haversine_m(LON, LAT, lon2, lat2)
    assert np.all(np.abs(ours - geod) <= 0.005 * geod + 1e-6)


def test_chord_distance_is_great_circle():
    xyz = coords.unit_vectors(LON[:100], LAT[:100])
    chord = np.linalg.norm(xyz[:50] - xyz[50:], axis=1)
    np.testing.assert_allclose(coords.chord_to_m(chord),
                               coords.haversine_m(LON[:50], LAT[:50], LON[50:100], LAT[50:100]), rtol=1e-9)
    np.testing.assert_allclose(coords.m_to_chord(coords.chord_to_m(chord)), chord, rtol=1e-12)


def _osm_boundary_lines(osm_path, name):
    """Member ways of the OSM admin relation called ``name`` as shapely lines (WGS84)."""
    nodes, ways, rel_ways = {}, {}, None
    for _, el in ET.iterparse(osm_path):
        if el.tag == "node":
            nodes[el.get("id")] = (float(el.get("lon")), float(el.get("lat")))
        elif el.tag == "way":
            ways[el.get("id")] = [nd.get("ref") for nd in el.findall("nd")]
        elif el.tag == "relation":
            tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
            if tags.get("boundary") == "administrative" and tags.get("name") == name:
                rel_ways = [m.get("ref") for m in el.findall("member") if m.get("type") == "way"]
    lines = []
    for w in rel_ways or []:
        pts = [nodes[n] for n in ways.get(w, []) if n in nodes]
        if len(pts) >= 2:
            lines.append(shapely.LineString(pts))
    return shapely.MultiLineString(lines)


def test_real_gcj02_boundary_lands_on_osm_boundary(yangpu_osm_xml, yangpu_boundary_gcj02):
    """Published real data: the GCJ-02 outline of 杨浦区 converted to WGS84 lies on OSM's own boundary.

    The data README measured a median gap of ~430 m before conversion and ~2 m after; we check both the
    size of the raw offset and that our inverse removes it.
    """
    osm = _osm_boundary_lines(yangpu_osm_xml, "杨浦区")
    assert not osm.is_empty
    gj = json.loads(yangpu_boundary_gcj02.read_text(encoding="utf-8"))
    geom = shapely.geometry.shape(gj["features"][0]["geometry"] if "features" in gj else gj)
    pts = shapely.get_coordinates(shapely.boundary(geom))
    w, s, e, n = osm.bounds
    near = (pts[:, 0] > w) & (pts[:, 0] < e) & (pts[:, 1] > s) & (pts[:, 1] < n)
    pts = pts[near]
    assert len(pts) >= 10
    to_m = Transformer.from_crs(4326, coords.local_metric_crs(121.5, 31.3), always_xy=True)
    osm_m = shapely.transform(osm, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1])))

    def median_gap(lon, lat):
        x, y = to_m.transform(lon, lat)
        return float(np.median(shapely.distance(shapely.points(x, y), osm_m)))

    raw_gap = median_gap(pts[:, 0], pts[:, 1])
    w_lon, w_lat = coords.transform(pts[:, 0], pts[:, 1], src="gcj02", dst="wgs84")
    fixed_gap = median_gap(w_lon, w_lat)
    print(f"median gap to OSM boundary: raw GCJ-02 {raw_gap:.1f} m, converted {fixed_gap:.1f} m")
    assert raw_gap > 200          # the GCJ-02 offset is real and large here
    assert fixed_gap < 15         # after conversion the outline sits on OSM's (simplified outline: metres)


def test_few_point_paths_equal_the_array_path() -> None:
    """One point at a time gives what a whole array gives (the iterative inverse stops per point at the
    same tolerance), NaN and points outside China included."""
    import numpy as np

    from geomap import coords

    rng = np.random.default_rng(3)
    lon = rng.uniform(73, 135, 600)
    lat = rng.uniform(18, 53, 600)
    lon[:3] = np.nan
    lon[3:8] = [-70.0, 0.0, 10.0, 150.0, 179.0]
    for src, dst in (("wgs84", "gcj02"), ("wgs84", "bd09"), ("gcj02", "wgs84"), ("bd09", "wgs84"),
                     ("bd09", "gcj02")):
        big_lon, big_lat = coords.transform(lon, lat, src=src, dst=dst)
        one = [coords.transform(lon[i:i + 1], lat[i:i + 1], src=src, dst=dst) for i in range(len(lon))]
        one_lon = np.concatenate([o[0] for o in one])
        one_lat = np.concatenate([o[1] for o in one])
        np.testing.assert_array_equal(np.isnan(one_lon), np.isnan(big_lon))
        np.testing.assert_allclose(one_lon, big_lon, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one_lat, big_lat, rtol=0, atol=1e-12)


@pytest.mark.parametrize("which", [1, 2, 3])
def test_compiled_twins_equal_the_arrays(which):
    """The compiled per-point conversions (used by the rider's fused query) give the array versions' answers,
    forward and inverse, including points outside China (unchanged) and NaN."""
    from geomap import coords_compiled

    lon = np.concatenate([LON[:300], [10.0, 140.0, np.nan]])
    lat = np.concatenate([LAT[:300], [50.0, 35.0, np.nan]])
    fwd = coords.FORWARDS[which]
    want_f = fwd(lon, lat)
    want_i = coords._invert(fwd, lon, lat)
    got_f = np.array([coords_compiled.forward(x, y, which) for x, y in zip(lon, lat, strict=True)]).T
    got_i = np.array([coords_compiled.inverse(x, y, which) for x, y in zip(lon, lat, strict=True)]).T
    np.testing.assert_allclose(got_f, want_f, rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got_i, want_i, rtol=0, atol=1e-9, equal_nan=True)
    assert coords_compiled.forward(10.0, 50.0, which) == (10.0, 50.0)


def test_compiled_haversine_equals_the_arrays():
    from geomap import coords_compiled

    want = coords.haversine_m(LON[:-1], LAT[:-1], LON[1:], LAT[1:])
    got = np.array([coords_compiled.haversine_m(a, b, c, d)
                    for a, b, c, d in zip(LON[:-1], LAT[:-1], LON[1:], LAT[1:], strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
