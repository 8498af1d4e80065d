"""Routing kernels on tiny hand-made graphs: snapping, partial edges, one-way streets, islands, routes."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from geomap.coords import haversine_m
from geomap.network._osm import RawWays
from geomap.network.graph import StreetGraph, graph_from_ways, load_profiles
from geomap.network.labels import build_labels
from geomap.network.nearest import network_nearest
from geomap.network.routing import (
    SnapError,
    node_travel_times,
    route,
    snap_points,
    travel_times_from,
)

LON0, LAT0 = 121.50, 31.30
DLON = 0.001  # about 95 m at this latitude


def line_graph(**kw: object) -> StreetGraph:
    """0 — 1 — 2 along a parallel, about 95 m apart."""
    return StreetGraph.from_arrays(
        node_lon=[LON0, LON0 + DLON, LON0 + 2 * DLON], node_lat=[LAT0] * 3, edge_u=[0, 1], edge_v=[1, 2], **kw
    )


def _line_length(line: shapely.LineString) -> float:
    c = np.asarray(line.coords)
    return float(haversine_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]).sum())


def test_snap_mid_edge_counts_the_partial_edge() -> None:
    g = line_graph()
    t0 = g.street_travel_s[0]
    sn = snap_points(g, LON0 + 0.25 * DLON, LAT0 + 0.0001)
    assert sn.ok[0] and sn.street[0] == 0
    assert sn.fraction[0] == pytest.approx(0.25, abs=1e-6)
    assert sn.distance_m[0] == pytest.approx(11.1, abs=0.2)
    times = travel_times_from(g, sn)[0]
    leg = sn.distance_m[0] / (5.0 / 3.6)  # the access leg, at the default 5 km/h
    # the fraction is exact up to the metric projection (~1e-6 relative at this scale)
    np.testing.assert_allclose(times, [leg + 0.25 * t0, leg + 0.75 * t0, leg + 0.75 * t0 + g.street_travel_s[1]],
                               rtol=1e-5)


def test_snap_beyond_the_end_of_a_street_lands_on_the_node() -> None:
    g = line_graph()
    sn = snap_points(g, [LON0 - 0.0003, LON0 + 2 * DLON + 0.0002], [LAT0, LAT0 + 0.0001])
    assert sn.street.tolist() == [0, 1]
    assert sn.fraction[0] == 0.0 and sn.fraction[1] == 1.0
    t = travel_times_from(g, sn)
    # on the node itself, after the straight access leg at 5 km/h (0.0003° of longitude ≈ 28.5 m)
    assert t[0, 0] == pytest.approx(sn.distance_m[0] * 3.6 / 5.0) and t[1, 2] == pytest.approx(sn.distance_m[1] * 0.72)
    assert sn.distance_m[0] == pytest.approx(0.0003 * 111_195 * np.cos(np.radians(LAT0)), rel=1e-3)


def test_batch_snapping_equals_one_by_one() -> None:
    g = line_graph()
    rng = np.random.default_rng(0)
    lon = LON0 + rng.uniform(-0.0005, 0.0025, 50)
    lat = LAT0 + rng.uniform(-0.001, 0.001, 50)
    batch = snap_points(g, lon, lat)
    for i in range(50):
        one = snap_points(g, lon[i], lat[i])
        assert one.street[0] == batch.street[i]
        assert one.fraction[0] == pytest.approx(batch.fraction[i])


def test_grid_lookup_equals_strtree_on_a_random_street_grid() -> None:
    """The compiled ring search over the segment grid finds the exact nearest street: the same distances
    as shapely's STRtree over the same segments (an independent index) for 6,000 points in and around
    the network, in batches and one at a time."""
    from geomap.network.routing import _snap_index

    rng = np.random.default_rng(11)
    n = 30
    xs, ys = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    lon = LON0 + xs.ravel() * 0.0012 + rng.normal(0, 0.0002, n * n)
    lat = LAT0 + ys.ravel() * 0.0011 + rng.normal(0, 0.0002, n * n)
    idx = np.arange(n * n).reshape(n, n)
    u = np.r_[idx[:-1, :].ravel(), idx[:, :-1].ravel()]
    v = np.r_[idx[1:, :].ravel(), idx[:, 1:].ravel()]
    keep = rng.random(len(u)) < 0.8
    g = StreetGraph.from_arrays(node_lon=lon, node_lat=lat, edge_u=u[keep], edge_v=v[keep])
    qlon = rng.uniform(lon.min() - 0.003, lon.max() + 0.003, 6000)
    qlat = rng.uniform(lat.min() - 0.003, lat.max() + 0.003, 6000)
    si = _snap_index(g)
    px, py = si.fast_xy(qlon, qlat)
    gx, gy = si.fast_xy(g.geom_lon, g.geom_lat)
    a = si.seg_first
    tree = shapely.STRtree(shapely.linestrings(np.stack([np.column_stack([gx[a], gy[a]]),
                                                         np.column_stack([gx[a + 1], gy[a + 1]])], axis=1)))
    _, want = tree.query_nearest(shapely.points(px, py), return_distance=True, all_matches=False)
    seg = si.nearest_segments(px, py)
    ax, ay, bx, by = gx[a[seg]], gy[a[seg]], gx[a[seg] + 1], gy[a[seg] + 1]
    tt = np.clip(((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    got = np.hypot(ax + tt * (bx - ax) - px, ay + tt * (by - ay) - py)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)
    batch = snap_points(g, qlon, qlat, errors="ignore", prefer_core=False, max_snap_m=1e6)
    one = [snap_points(g, qlon[i], qlat[i], errors="ignore", prefer_core=False, max_snap_m=1e6).distance_m[0]
           for i in range(0, 6000, 60)]
    np.testing.assert_allclose(batch.distance_m[::60], one, rtol=1e-12)
    assert si.cell_seg.nbytes < 20 * len(a)  # compact: a few int32 per segment


def test_fraction_follows_a_bent_geometry() -> None:
    # one street 0 -> 1 going north then east: an L of two legs of equal length
    corner = (LON0, LAT0 + 0.000855)  # ~95 m north
    g = StreetGraph.from_arrays(
        node_lon=[LON0, LON0 + DLON], node_lat=[LAT0, corner[1]], edge_u=[0], edge_v=[1],
        geometry=[[(LON0, LAT0), corner, (LON0 + DLON, corner[1])]],
    )
    assert g.street_length_m[0] == pytest.approx(190.3, abs=1.0)
    sn = snap_points(g, corner[0] - 0.0002, corner[1] + 0.0001)  # near the corner
    assert sn.fraction[0] == pytest.approx(0.5, abs=0.01)


def test_too_far_is_a_clear_error_with_the_distance() -> None:
    g = line_graph()
    with pytest.raises(SnapError) as exc:
        snap_points(g, LON0 + DLON, LAT0 + 0.01)  # ~1.1 km north
    err = exc.value
    assert err.distance_m[0] == pytest.approx(1112, abs=5)
    msg = str(err)
    assert "1,112 m" in msg and "1,112 米" in msg and "300" in msg
    ok = snap_points(g, LON0 + DLON, LAT0 + 0.01, errors="ignore")
    assert not ok.ok[0] and ok.street[0] == -1 and ok.distance_m[0] == pytest.approx(1112, abs=5)
    # the limit is a parameter
    assert snap_points(g, LON0 + DLON, LAT0 + 0.01, max_snap_m=2000).ok[0]


def _oneway_ways() -> RawWays:
    """Node 1 -> 2 one-way (direct, ~95 m); 2 - 3 - 1 a two-way detour through node 3 to the north."""
    coords = {1: (LON0, LAT0), 2: (LON0 + DLON, LAT0), 3: (LON0 + DLON / 2, LAT0 + 0.002)}
    ways = [(10, {"highway": "residential", "oneway": "yes"}, [1, 2]),
            (11, {"highway": "residential"}, [2, 3]), (12, {"highway": "residential"}, [3, 1])]
    ids = np.array([n for _, _, ns in ways for n in ns])
    return RawWays(
        way_id=np.array([w for w, _, _ in ways]), tags=[t for _, t, _ in ways],
        offsets=np.cumsum([0] + [len(ns) for _, _, ns in ways]), node_id=ids,
        lon=np.array([coords[i][0] for i in ids]), lat=np.array([coords[i][1] for i in ids]),
    )


def test_one_way_walk_ignores_drive_obeys() -> None:
    prof = load_profiles()
    walk = graph_from_ways(_oneway_ways(), prof["walk"])
    drive = graph_from_ways(_oneway_ways(), prof["drive"])
    for g in (walk, drive):
        assert g.node_osmid.tolist() == [1, 2, 3]
    tw = node_travel_times(walk, [0, 1])
    td = node_travel_times(drive, [0, 1])
    direct_w = walk.street_travel_s[0]
    assert tw[0, 1] == pytest.approx(direct_w) and tw[1, 0] == pytest.approx(direct_w)
    direct_d = drive.street_travel_s[0]
    detour_d = drive.street_travel_s[1] + drive.street_travel_s[2]
    assert td[0, 1] == pytest.approx(direct_d)
    assert td[1, 0] == pytest.approx(detour_d) and detour_d > 3 * direct_d
    # snapped points in the middle of the one-way street: drive must go on to node 2 and around
    sn = snap_points(drive, LON0 + DLON / 2, LAT0)
    t = travel_times_from(drive, sn)[0]
    assert t[1] == pytest.approx(0.5 * direct_d)
    assert t[0] == pytest.approx(0.5 * direct_d + detour_d)
    tt = travel_times_from(drive, sn, direction="to")[0]  # from nodes to the point
    assert tt[0] == pytest.approx(0.5 * direct_d)
    assert tt[1] == pytest.approx(detour_d + 0.5 * direct_d)


def _island_graph() -> StreetGraph:
    # main: 0 - 1 - 2; island (about 1 km east): 3 - 4
    return StreetGraph.from_arrays(
        node_lon=[LON0, LON0 + DLON, LON0 + 2 * DLON, LON0 + 12 * DLON, LON0 + 13 * DLON],
        node_lat=[LAT0] * 5, edge_u=[0, 1, 3], edge_v=[1, 2, 4],
    )


def test_station_on_an_island_is_unreachable_not_a_crash() -> None:
    g = _island_graph()
    assert g.node_component.tolist() == [0, 0, 0, 1, 1]
    res = network_nearest(
        g, station_lon=[LON0 + 12.5 * DLON], station_lat=[LAT0], station_ids=["island"],
        query_lon=[LON0 + 0.5 * DLON, LON0 + 12.2 * DLON], query_lat=[LAT0, LAT0], k=1,
    )
    assert np.isinf(res.travel_s[0, 0]) and res.station_id[0, 0] is None and res.route[0, 0] is None
    assert res.station_id[1, 0] == "island"
    assert res.travel_s[1, 0] == pytest.approx(0.3 * g.street_travel_s[2], rel=1e-6)
    # with a second station on the main component, each query finds the one on its own component
    res2 = network_nearest(
        g, station_lon=[LON0 + 12.5 * DLON, LON0 + 1.9 * DLON], station_lat=[LAT0, LAT0],
        station_ids=["island", "main"], query_lon=[LON0 + 0.5 * DLON, LON0 + 12.2 * DLON],
        query_lat=[LAT0, LAT0], k=2,
    )
    assert res2.station_id[:, 0].tolist() == ["main", "island"]
    assert res2.station_id[:, 1].tolist() == [None, None]
    assert np.isinf(res2.travel_s[:, 1]).all()


def _triangle_oneway() -> StreetGraph:
    # 0 -> 1 one-way (east), 1 - 2 and 2 - 0 two-way (2 to the north)
    return StreetGraph.from_arrays(
        node_lon=[LON0, LON0 + DLON, LON0 + DLON / 2], node_lat=[LAT0, LAT0, LAT0 + 0.001],
        edge_u=[0, 1, 2], edge_v=[1, 2, 0], forward=True, backward=[False, True, True], speed_kmh=15.0,
    )


def test_station_and_query_on_the_same_edge() -> None:
    g = _triangle_oneway()
    t = g.street_travel_s
    length = g.street_length_m
    # query at 0.2, station ahead at 0.6 on the one-way street: direct along it
    res = network_nearest(
        g, station_lon=[LON0 + 0.6 * DLON], station_lat=[LAT0], query_lon=[LON0 + 0.2 * DLON],
        query_lat=[LAT0], k=1,
    )
    assert res.travel_s[0, 0] == pytest.approx(0.4 * t[0], rel=1e-6)
    assert res.distance_m[0, 0] == pytest.approx(0.4 * length[0], rel=1e-6)
    assert _line_length(res.route[0, 0]) == pytest.approx(0.4 * length[0], rel=1e-4)
    # station behind the query on the one-way street: round the triangle
    res = network_nearest(
        g, station_lon=[LON0 + 0.2 * DLON], station_lat=[LAT0], query_lon=[LON0 + 0.6 * DLON],
        query_lat=[LAT0], k=1,
    )
    want = 0.4 * t[0] + t[1] + t[2] + 0.2 * t[0]
    assert res.travel_s[0, 0] == pytest.approx(want, rel=1e-6)
    line = res.route[0, 0]
    assert _line_length(line) == pytest.approx(res.distance_m[0, 0], rel=1e-4)
    c = np.asarray(line.coords)
    assert c[0] == pytest.approx([LON0 + 0.6 * DLON, LAT0], abs=1e-9)
    assert c[-1] == pytest.approx([LON0 + 0.2 * DLON, LAT0], abs=1e-9)
    assert c[:, 1].max() == pytest.approx(LAT0 + 0.001)  # it goes round by node 2


def test_k_nearest_on_a_tiny_graph_with_ties_and_order() -> None:
    g = line_graph()
    st_lon = [LON0, LON0 + DLON, LON0 + 2 * DLON]
    res = network_nearest(
        g, station_lon=st_lon, station_lat=[LAT0] * 3, station_ids=["a", "b", "c"],
        query_lon=[LON0 + 0.3 * DLON], query_lat=[LAT0], k=3,
    )
    assert res.station_id[0].tolist() == ["a", "b", "c"]
    t0, t1 = g.street_travel_s
    np.testing.assert_allclose(res.travel_s[0], [0.3 * t0, 0.7 * t0, 0.7 * t0 + t1], rtol=1e-6)
    for r in range(3):
        assert _line_length(res.route[0, r]) == pytest.approx(res.distance_m[0, r], rel=1e-4, abs=1e-6)


def test_point_to_point_route() -> None:
    g = _triangle_oneway()
    r = route(g, from_lon=LON0 + 0.6 * DLON, from_lat=LAT0, to_lon=LON0 + 0.2 * DLON, to_lat=LAT0)
    assert r.travel_s > g.street_travel_s[1]
    assert r.geometry is not None and _line_length(r.geometry) == pytest.approx(r.distance_m, rel=1e-4)
    back = route(g, from_lon=LON0 + 0.2 * DLON, from_lat=LAT0, to_lon=LON0 + 0.6 * DLON, to_lat=LAT0)
    assert back.travel_s == pytest.approx(0.4 * g.street_travel_s[0], rel=1e-6)
    island = _island_graph()
    far = route(island, from_lon=LON0, from_lat=LAT0, to_lon=LON0 + 12.5 * DLON, to_lat=LAT0)
    assert np.isinf(far.travel_s) and far.geometry is None


def test_labels_cache_and_empty_sets() -> None:
    g = line_graph()
    empty = snap_points(g, [], [])
    lab = build_labels(g, empty, k=2, limit_s=np.inf)
    slot, travel_s, _, _ = lab.query(snap_points(g, [LON0], [LAT0]))
    assert (slot == -1).all() and np.isinf(travel_s).all()
    kw = {"station_lon": [LON0], "station_lat": [LAT0], "query_lon": [LON0 + DLON], "query_lat": [LAT0]}
    network_nearest(g, **kw)
    cached = list(g.__dict__["_station_labels"].values())
    network_nearest(g, **kw)
    assert list(g.__dict__["_station_labels"].values()) == cached  # same stations: labels reused


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    g = _triangle_oneway()
    g.save(tmp_path / "g")
    h = StreetGraph.load(tmp_path / "g")
    assert h.from_cache and not g.from_cache
    for name in ("indptr", "indices", "edge_travel_s", "street_forward", "geom_lon"):
        np.testing.assert_array_equal(getattr(g, name), getattr(h, name))


def _square_with_exit_graph() -> StreetGraph:
    """A two-way square block 0-1-2-3 (the core) and a one-way exit street 4 -> 5 north of it that
    leads nowhere (as where an extract cuts a one-way road)."""
    return StreetGraph.from_arrays(
        node_lon=[LON0, LON0 + DLON, LON0 + DLON, LON0, LON0 + 0.5 * DLON, LON0 + 0.5 * DLON],
        node_lat=[LAT0, LAT0, LAT0 + DLON, LAT0 + DLON, LAT0 + 1.6 * DLON, LAT0 + 3 * DLON],
        edge_u=[0, 1, 2, 3, 4], edge_v=[1, 2, 3, 0, 5],
        forward=[True] * 5, backward=[True, True, True, True, False],
    )


def test_points_by_a_dead_end_one_way_snap_onto_the_connected_core() -> None:
    g = _square_with_exit_graph()
    q_lon, q_lat = [LON0 + 0.5 * DLON + 0.0001], [LAT0 + 1.5 * DLON]  # 10 m from the exit, ~50 m from the block
    plain = snap_points(g, q_lon, q_lat, prefer_core=False)
    assert int(plain.street[0]) == 4
    core = snap_points(g, q_lon, q_lat)
    assert int(core.street[0]) == 2  # the top side of the block (nodes 2-3)
    assert core.distance_m[0] > plain.distance_m[0]
    res = network_nearest(g, station_lon=[LON0], station_lat=[LAT0], station_ids=["s"], query_lon=q_lon,
                          query_lat=q_lat, k=1)
    assert res.station_id[0, 0] == "s" and np.isfinite(res.travel_s[0, 0])
    # with the exit as the only street within the snapping distance, the point stays on it (nothing reachable)
    stuck = network_nearest(g, station_lon=[LON0], station_lat=[LAT0], station_ids=["s"],
                            query_lon=q_lon, query_lat=q_lat, k=1, max_snap_m=30.0)
    assert stuck.station_id[0, 0] is None and np.isinf(stuck.travel_s[0, 0])



def test_a_point_at_a_street_end_stands_on_that_node_whatever_the_one_way() -> None:
    """A point snapped to the end of a one-way street is at the junction: it may use that node at no cost
    in either direction (before, a rider at a corner could be sent round the block, depending on which
    of the streets meeting there the snapping picked)."""
    from geomap.network.routing import Snapped
    from tests._nx import add_point, street_digraph

    g = _triangle_oneway()  # street 0: 0 -> 1 one-way; 1 - 2 and 2 - 0 two-way
    t = g.street_travel_s

    def snapped(street: int, frac: float) -> Snapped:
        return Snapped(street=np.array([street]), fraction=np.array([frac]), distance_m=np.zeros(1),
                       lon=np.array([LON0]), lat=np.array([LAT0]), ok=np.array([True]))

    cases = [  # (station, query point, expected seconds)
        (snapped(0, 1.0), snapped(1, 0.25), 0.25 * t[1]),  # station at the one-way street's end: node 1
        (snapped(2, 0.9), snapped(0, 0.0), 0.1 * t[2]),  # rider at the one-way street's start: node 0
    ]
    for station, query, want in cases:
        lab = build_labels(g, station, k=1, limit_s=np.inf)
        assert lab.query(query)[1][0, 0] == pytest.approx(want, rel=1e-6)
        h = street_digraph(g)  # networkx, with the same rule for points at street ends
        add_point(h, g, "q", int(query.street[0]), float(query.fraction[0]), leaving=True)
        add_point(h, g, "s", int(station.street[0]), float(station.fraction[0]), leaving=False)
        assert nx.shortest_path_length(h, "q", "s", weight="w") == pytest.approx(want, rel=1e-9)
