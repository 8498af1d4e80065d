"""Service circles: polygons from the reachable street network, not buffers or hulls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geomap.coords import local_metric_crs, transform
from geomap.network.graph import StreetGraph, build_network
from geomap.network.isochrones import isochrones
from geomap.network.routing import SnapError, snap_points, travel_times_from
from geomap.settings import get_settings

PBF = Path(__file__).resolve().parents[2] / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
LON0, LAT0 = 121.50, 31.30


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StreetGraph]:
    if not PBF.exists():
        pytest.skip(f"sample OSM extract missing: {PBF} (run `make data` with ../shared/data present)")
    return build_network(PBF, modes=["walk", "ebike"], progress=False, cache_dir=tmp_path_factory.mktemp("c"))


def _to_metric(g: StreetGraph) -> Transformer:
    lon0, lat0 = g.centre_lonlat
    return Transformer.from_crs("EPSG:4326", local_metric_crs(lon0, lat0), always_xy=True)


def _metric(geom: shapely.Geometry, tr: Transformer) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


@pytest.mark.parametrize(("mode", "minutes"), [("walk", [5, 10, 15]), ("ebike", [3, 6])])
def test_reached_nodes_inside_clearly_unreached_outside(
    graphs: dict[str, StreetGraph], mode: str, minutes: list[float]
) -> None:
    """Inside: every node reached within T. Outside: every node whose time exceeds T + buffer_m / speed,
    unless it is within buffer_m (straight line) of a street touched within T — i.e. across a barrier
    (fence, rail, river, another component). Checked without hole filling, which only adds area."""
    g = graphs[mode]
    s = get_settings()
    speed_ms = {"walk": s.walk_speed_kmh, "ebike": s.ebike_speed_kmh}[mode] / 3.6  # fastest class
    buffer_m = 30.0
    tr = _to_metric(g)
    nx_, ny_ = tr.transform(g.node_lon, g.node_lat)
    nodes_m = shapely.points(nx_, ny_)
    rng = np.random.default_rng(5)
    origins = rng.choice(np.flatnonzero(g.node_component == 0), 4, replace=False)
    n_beyond = n_beyond_inside = 0
    for o in origins:
        lon, lat = g.node_lon[o] + 0.0001, g.node_lat[o] + 0.0001
        node_t = travel_times_from(g, snap_points(g, lon, lat))[0]
        raw = isochrones(g, lon=lon, lat=lat, minutes=minutes, buffer_m=buffer_m, hole_fill_m2=0.0)
        filled = isochrones(g, lon=lon, lat=lat, minutes=minutes, buffer_m=buffer_m)
        prev_area = 0.0
        for (_, row), (_, frow) in zip(raw.iterrows(), filled.iterrows(), strict=True):
            T = row.minutes * 60.0
            poly = _metric(row.geometry, tr)
            assert frow.area_km2 >= row.area_km2 - 1e-9 and row.area_km2 > prev_area
            prev_area = row.area_km2
            inside = shapely.intersects(poly.buffer(0.01), nodes_m)
            assert inside[node_t <= T].all(), "a node reached within T is outside its polygon"
            beyond = node_t > T + buffer_m / speed_ms
            # streets touched within T: both ends' geometry, whole (a superset of the reachable pieces)
            touched = np.flatnonzero((node_t[g.street_u] <= T) | (node_t[g.street_v] <= T))
            lines = [
                shapely.LineString(np.column_stack(tr.transform(*g.street_coords(s))))
                for s in touched if len(g.street_coords(s)[0]) >= 2
            ]
            near_touched = shapely.dwithin(shapely.union_all(lines), nodes_m, buffer_m + 1.0)
            unexplained = beyond & inside & ~near_touched
            assert not unexplained.any(), f"{unexplained.sum()} clearly unreached nodes inside"
            n_beyond += beyond.sum()
            n_beyond_inside += (beyond & inside).sum()
    # and such barrier cases are rare on this extract
    assert n_beyond_inside < 0.05 * n_beyond


def test_not_a_buffer_not_a_hull(graphs: dict[str, StreetGraph]) -> None:
    g = graphs["walk"]
    o = np.flatnonzero(g.node_component == 0)[100]
    gdf = isochrones(g, lon=g.node_lon[o], lat=g.node_lat[o], minutes=[15])
    poly = gdf.geometry.iloc[0]
    circle_km2 = np.pi * (15 * 60 * 5 / 3.6 / 1000) ** 2
    hull_km2 = _metric(poly.convex_hull, _to_metric(g)).area / 1e6
    assert gdf.area_km2.iloc[0] < 0.8 * hull_km2 < 0.8 * circle_km2
    assert gdf.area_km2.iloc[0] == pytest.approx(_metric(poly, _to_metric(g)).area / 1e6, rel=1e-3)
    assert gdf.crs.to_epsg() == 4326 and set(gdf.columns) >= {"origin", "minutes", "area_km2", "geometry"}


def test_multiple_origins_and_output_crs(graphs: dict[str, StreetGraph]) -> None:
    g = graphs["walk"]
    idx = np.flatnonzero(g.node_component == 0)[[10, 200, 400]]
    wgs = isochrones(g, lon=g.node_lon[idx], lat=g.node_lat[idx], minutes=[5, 10], origin_ids=["a", "b", "c"])
    assert len(wgs) == 6 and wgs.origin_id.tolist() == ["a", "a", "b", "b", "c", "c"]
    gcj = isochrones(g, lon=g.node_lon[idx], lat=g.node_lat[idx], minutes=[5, 10], crs="gcj02")
    assert gcj.crs is None and (gcj.coord_system == "gcj02").all()
    np.testing.assert_allclose(gcj.area_km2, wgs.area_km2)
    # the GCJ-02 polygon is the WGS84 polygon shifted by the GCJ-02 offset
    c = np.asarray(wgs.geometry.iloc[0].exterior.coords)
    want = np.column_stack(transform(c[:, 0], c[:, 1], src="wgs84", dst="gcj02"))
    np.testing.assert_allclose(np.asarray(gcj.geometry.iloc[0].exterior.coords), want, atol=1e-9)
    gj = isochrones(g, lon=g.node_lon[idx[0]], lat=g.node_lat[idx[0]], minutes=5, as_geojson=True)
    assert gj["type"] == "FeatureCollection" and gj["features"][0]["properties"]["area_km2"] > 0


def _line_graph(n: int = 21, **kw: object) -> StreetGraph:
    """A straight street of n - 1 pieces of ~95 m going east."""
    return StreetGraph.from_arrays(
        node_lon=LON0 + 0.001 * np.arange(n), node_lat=np.full(n, LAT0), edge_u=np.arange(n - 1),
        edge_v=np.arange(1, n), speed_kmh=5.0, **kw,
    )


def test_partial_edges_are_cut_at_the_reachable_fraction() -> None:
    g = _line_graph()
    o_lon = LON0 + 0.0105  # mid-street between nodes 10 and 11
    gdf = isochrones(g, lon=o_lon, lat=LAT0, minutes=[2], buffer_m=10.0)
    reach_m = 120.0 * 5.0 / 3.6  # 166.7 m each way
    tr = _to_metric(g)
    minx, _, maxx, _ = _metric(gdf.geometry.iloc[0], tr).bounds
    ox, _ = tr.transform(o_lon, LAT0)
    assert ox - minx == pytest.approx(reach_m + 10.0, abs=1.0)
    assert maxx - ox == pytest.approx(reach_m + 10.0, abs=1.0)


def test_one_way_direction_from_and_to() -> None:
    g = _line_graph(forward=True, backward=False)  # one-way east
    o_lon = LON0 + 0.0105
    tr = _to_metric(g)
    ox, _ = tr.transform(o_lon, LAT0)
    frm = _metric(isochrones(g, lon=o_lon, lat=LAT0, minutes=[2], buffer_m=10.0).geometry.iloc[0], tr)
    to = _metric(
        isochrones(g, lon=o_lon, lat=LAT0, minutes=[2], buffer_m=10.0, direction="to").geometry.iloc[0], tr
    )
    assert frm.bounds[0] == pytest.approx(ox - 10.0, abs=1.0) and frm.bounds[2] > ox + 150
    assert to.bounds[2] == pytest.approx(ox + 10.0, abs=1.0) and to.bounds[0] < ox - 150


def test_holes_for_unreached_blocks_and_small_holes_filled() -> None:
    # a 600 m square ring of streets around an empty block: a hole, unless the fill threshold covers it
    d = 0.006
    lon = [LON0, LON0 + d, LON0 + d, LON0]
    lat = [LAT0, LAT0, LAT0 + d * 0.855, LAT0 + d * 0.855]
    g = StreetGraph.from_arrays(node_lon=lon, node_lat=lat, edge_u=[0, 1, 2, 3], edge_v=[1, 2, 3, 0])
    kw = {"lon": LON0, "lat": LAT0, "minutes": [60], "buffer_m": 30.0}
    holes = isochrones(g, hole_fill_m2=20_000, **kw).geometry.iloc[0]
    assert len(holes.interiors) == 1  # (570 m)² block stays a hole
    filled = isochrones(g, hole_fill_m2=1e6, **kw).geometry.iloc[0]
    assert len(filled.interiors) == 0


def test_far_origin_raises() -> None:
    g = _line_graph()
    with pytest.raises(SnapError):
        isochrones(g, lon=LON0, lat=LAT0 + 0.05, minutes=[5])


@pytest.mark.parametrize("mode", ["walk", "ebike"])
def test_buffer_tree_equals_plain_union_of_pieces(graphs: dict[str, StreetGraph], mode: str) -> None:
    """The cached subtree unions give the same polygon as buffering and unioning every reachable piece."""
    from geomap.network.isochrones import _buffer_tree, reachable_pieces
    from geomap.network.routing import pieces_coords

    g = graphs[mode]
    tree = _buffer_tree(g, 30.0, 4)
    rng = np.random.default_rng(11)
    for o in rng.choice(np.flatnonzero(g.node_component == 0), 3, replace=False):
        snap = snap_points(g, g.node_lon[o] + 0.0002, g.node_lat[o] - 0.0001)
        node_t = travel_times_from(g, snap, limit_s=900.0)[0]
        for T in (120.0, 480.0, 900.0):
            st, lo, hi = reachable_pieces(g, node_t, snap, 0, T)
            x, y, piece = pieces_coords(g, st, lo, hi, xy=tree.xy)
            lines = shapely.linestrings(np.column_stack([x, y]), indices=piece)
            plain = shapely.union_all(shapely.buffer(lines, 30.0, quad_segs=4))
            fast = tree.polygon(st, lo, hi)
            assert shapely.is_valid(fast)
            # equal up to overlay-order noise (slivers of a few m² on tens of thousands of m²)
            assert shapely.symmetric_difference(fast, plain).area < 1e-4 * plain.area + 1.0


def test_prepare_then_query_same_polygon(graphs: dict[str, StreetGraph]) -> None:
    from geomap.network.isochrones import prepare_isochrones

    g = graphs["walk"]
    o = np.flatnonzero(g.node_component == 0)[50]
    kw = {"lon": g.node_lon[o], "lat": g.node_lat[o], "minutes": [5, 10]}
    before = isochrones(g, **kw)
    g.__dict__.pop("_buffer_trees", None)
    prepare_isochrones(g)
    after = isochrones(g, **kw)
    np.testing.assert_allclose(after.area_km2, before.area_km2, rtol=1e-9)
    for a, b in zip(after.geometry, before.geometry, strict=True):
        assert a.symmetric_difference(b).area < 1e-9 * a.area


def test_fill_small_holes_equals_a_polygon_by_polygon_reference() -> None:
    import shapely

    from geomap.network.isochrones import _fill_small_holes

    def reference(geom, fill):  # type: ignore[no-untyped-def]
        out = []
        for p in shapely.get_parts(geom):
            rings = [r for r in p.interiors if shapely.Polygon(r).area >= fill]
            out.append(shapely.Polygon(p.exterior, rings))
        return shapely.MultiPolygon(out) if len(out) > 1 else out[0]

    rng = np.random.default_rng(1)
    for _ in range(40):
        polys = []
        for k in range(int(rng.integers(1, 5))):
            x0 = k * 100.0
            holes = []
            for h in range(int(rng.integers(0, 5))):
                cx, cy, size = x0 + 10 + h * 16, 10 + rng.uniform(0, 60), rng.uniform(1, 8)
                holes.append(shapely.box(cx, cy, cx + size, cy + size).exterior)
            polys.append(shapely.Polygon(shapely.box(x0, 0, x0 + 90, 90).exterior, holes))
        geom = shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
        got, want = _fill_small_holes(geom, 20.0), reference(geom, 20.0)
        assert got.equals(want)
        assert shapely.get_num_interior_rings(shapely.get_parts(got)).sum() == sum(
            len(p.interiors) for p in shapely.get_parts(want))
