"""Network nearest stations on the real extract: equal to brute force over all stations."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geomap.coords import haversine_m
from geomap.network.graph import StreetGraph, build_network
from geomap.network.nearest import network_nearest
from geomap.network.routing import SnapError, Snapped, snap_points
from tests._nx import add_point as add_nx_point
from tests._nx import brute_force_times, street_digraph

PBF = Path(__file__).resolve().parents[2] / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StreetGraph]:
    if not PBF.exists():
        pytest.skip(f"sample OSM extract missing: {PBF} (run `make data` with ../shared/data present)")
    return build_network(
        PBF, modes=["walk", "ebike", "drive"], progress=False, cache_dir=tmp_path_factory.mktemp("cache")
    )


def _random_snappable(g: StreetGraph, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random points of the extract's bounding box that lie within max_snap_m of a street."""
    rng = np.random.default_rng(seed)
    lons, lats = [], []
    while sum(len(x) for x in lons) < n:
        lon = rng.uniform(g.node_lon.min(), g.node_lon.max(), 2 * n)
        lat = rng.uniform(g.node_lat.min(), g.node_lat.max(), 2 * n)
        ok = snap_points(g, lon, lat, errors="ignore").ok
        lons.append(lon[ok])
        lats.append(lat[ok])
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


def _check_against(res_t: np.ndarray, res_id: np.ndarray, bf: np.ndarray, ids: np.ndarray, k: int) -> None:
    order = np.argsort(bf, axis=1, kind="stable")[:, :k]
    want_t = np.take_along_axis(bf, order, axis=1)
    np.testing.assert_array_equal(np.isfinite(res_t), np.isfinite(want_t))
    fin = np.isfinite(want_t)
    np.testing.assert_allclose(res_t[fin], want_t[fin], rtol=1e-9, atol=1e-9)
    # station identity wherever the brute force has no (near) tie for that rank
    srt = np.sort(bf, axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf among unreachable stations
        gap_prev = np.diff(np.concatenate([np.full((len(bf), 1), -np.inf), srt], axis=1), axis=1)[:, :k]
        gap_next = np.diff(srt, axis=1)[:, :k] if srt.shape[1] > k else np.full((len(bf), k), np.inf)
    clear = fin & (gap_prev > 1e-6) & (gap_next > 1e-6)
    assert clear.sum() > 0.9 * fin.sum()
    np.testing.assert_array_equal(res_id[clear], ids[order][clear])


@pytest.mark.parametrize("mode", ["walk", "ebike", "drive"])
def test_nearest_equals_brute_force_1000_points(graphs: dict[str, StreetGraph], mode: str) -> None:
    g = graphs[mode]
    st_lon, st_lat = _random_snappable(g, 50, seed=11)
    ids = np.array([f"S{i:02d}" for i in range(50)], dtype=object)
    q_lon, q_lat = _random_snappable(g, 1000, seed=12)
    st = snap_points(g, st_lon, st_lat)
    q = snap_points(g, q_lon, q_lat)
    bf = brute_force_times(g, q, st)
    for k in (1, 3):
        res = network_nearest(
            g, station_lon=st_lon, station_lat=st_lat, station_ids=ids, query_lon=q_lon, query_lat=q_lat,
            k=k, return_routes=(k == 3),
        )
        assert res.travel_s.shape == (1000, k)
        got_ids = np.where(res.station_pos >= 0, ids[np.maximum(res.station_pos, 0)], None)
        np.testing.assert_array_equal(got_ids, res.station_id)
        _check_against(res.travel_s, res.station_id, bf, ids, k)
        if k == 3:
            _check_routes(g, res, q, st)


def _check_routes(g: StreetGraph, res, q: Snapped, st: Snapped) -> None:  # type: ignore[no-untyped-def]
    n_checked = 0
    for i in range(0, len(q), 7):
        for r in range(res.travel_s.shape[1]):
            line = res.route[i, r]
            if not np.isfinite(res.travel_s[i, r]):
                assert line is None
                continue
            c = np.asarray(line.coords)
            j = res.station_pos[i, r]
            assert c[0] == pytest.approx([q.lon[i], q.lat[i]], abs=1e-9)
            assert c[-1] == pytest.approx([st.lon[j], st.lat[j]], abs=1e-9)
            length = haversine_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]).sum()
            assert length == pytest.approx(res.distance_m[i, r], abs=0.5, rel=1e-4)
            n_checked += 1
    assert n_checked > 300


def test_nearest_equals_networkx_with_virtual_nodes(graphs: dict[str, StreetGraph]) -> None:
    """Independent check: networkx Dijkstra on the street table with the query and every station added
    as nodes on their streets (partial edges at both ends, direct edge when on the same street)."""
    g = graphs["ebike"]
    st_lon, st_lat = _random_snappable(g, 50, seed=21)
    q_lon, q_lat = _random_snappable(g, 100, seed=22)
    st = snap_points(g, st_lon, st_lat)
    q = snap_points(g, q_lon, q_lat)
    res = network_nearest(
        g, station_lon=st_lon, station_lat=st_lat, query_lon=q_lon, query_lat=q_lat, k=2, return_routes=False
    )
    h = street_digraph(g)

    def add_point(name: object, s: int, f: float, *, leaving: bool) -> None:
        add_nx_point(h, g, name, s, f, leaving=leaving)

    for j in range(len(st)):
        add_point(("s", j), int(st.street[j]), float(st.fraction[j]), leaving=False)
    for i in range(len(q)):
        name = ("q", i)
        add_point(name, int(q.street[i]), float(q.fraction[i]), leaving=True)
        for j in np.flatnonzero(st.street == q.street[i]):
            s, fq, fs = int(q.street[i]), float(q.fraction[i]), float(st.fraction[j])
            if (fs >= fq and g.street_forward[s]) or (fs <= fq and g.street_backward[s]):
                h.add_edge(name, ("s", int(j)), w=abs(fs - fq) * float(g.street_travel_s[s]))
        dist = nx.single_source_dijkstra_path_length(h, name, weight="w")
        want = np.sort([dist.get(("s", j), np.inf) for j in range(len(st))])[:2]
        h.remove_node(name)
        fin = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(res.travel_s[i]), fin)
        np.testing.assert_allclose(res.travel_s[i][fin], want[fin], rtol=1e-9)


def test_far_query_point_raises_or_is_skipped(graphs: dict[str, StreetGraph]) -> None:
    g = graphs["walk"]
    kw = {"station_lon": [g.node_lon[0]], "station_lat": [g.node_lat[0]]}
    far_lon, far_lat = g.node_lon.max() + 0.05, g.node_lat.max() + 0.05  # several km outside
    with pytest.raises(SnapError, match="米"):
        network_nearest(g, query_lon=[far_lon], query_lat=[far_lat], **kw)
    res = network_nearest(
        g, query_lon=[far_lon, g.node_lon[1]], query_lat=[far_lat, g.node_lat[1]], on_far="skip", **kw
    )
    assert not res.query_ok[0] and res.query_ok[1]
    assert res.query_snap_m[0] > 3000 and res.station_id[0, 0] is None
    frame = res.to_frame()
    assert len(frame) == 2 and frame.crs.to_epsg() == 4326


def test_real_extract_almost_every_point_reaches_a_station(graphs: dict[str, StreetGraph]) -> None:
    """Near-street points on the real extract: with core snapping, e-bike riders nearly always get an answer."""
    g = graphs["ebike"]
    rng = np.random.default_rng(21)
    pick = rng.integers(0, len(g.geom_lon), 2000)
    lon = g.geom_lon[pick] + rng.uniform(-0.0005, 0.0005, 2000)
    lat = g.geom_lat[pick] + rng.uniform(-0.0004, 0.0004, 2000)
    st = rng.choice(np.flatnonzero(g.node_component == 0), 30, replace=False)
    kw = {"station_lon": g.node_lon[st], "station_lat": g.node_lat[st], "query_lon": lon, "query_lat": lat,
          "k": 1, "return_routes": False, "on_far": "skip"}
    res = network_nearest(g, **kw)
    assert np.mean(res.station_pos[:, 0] >= 0) > 0.99


@pytest.mark.parametrize("k", [1, 3])
def test_small_route_walk_equals_vectorised_walk(graphs: dict[str, StreetGraph], k: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A few routes are walked in plain Python, many with one numpy pass per step: same LineStrings."""
    from geomap.network.routing import TargetIndex

    g = graphs["ebike"]
    st_lon, st_lat = _random_snappable(g, 30, seed=31)
    q_lon, q_lat = _random_snappable(g, 20, seed=32)
    kw = dict(station_lon=st_lon, station_lat=st_lat, query_lon=q_lon, query_lat=q_lat, k=k, return_routes=True)
    small = network_nearest(g, **kw)
    assert small.route is not None and sum(r is not None for r in small.route.ravel()) <= TargetIndex.SMALL_ROUTES
    monkeypatch.setattr(TargetIndex, "SMALL_ROUTES", -1)
    big = network_nearest(g, **kw)
    assert big.route is not None
    for a, b in zip(small.route.ravel(), big.route.ravel(), strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(np.asarray(a.coords), np.asarray(b.coords))


@pytest.mark.parametrize("mode", ["ebike", "drive"])
def test_an_index_extended_by_new_stations_equals_one_built_from_all(graphs: dict[str, StreetGraph], mode: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Stations added at the end (as new registry rows are): labels, trees and answers equal a rebuild."""
    from geomap.network.nearest import station_index
    from geomap.network.routing import TargetIndex

    g = graphs[mode]
    st_lon, st_lat = _random_snappable(g, 40, seed=41)
    st_lon[35], st_lat[35] = st_lon[0], st_lat[0]  # a new station at an old one's place: ties by index
    full = TargetIndex(g, snap_points(g, st_lon, st_lat, errors="ignore"), k=5)
    ext = TargetIndex(g, snap_points(g, st_lon[:30], st_lat[:30], errors="ignore"), k=5).extended(
        snap_points(g, st_lon[30:], st_lat[30:], errors="ignore"))
    np.testing.assert_array_equal(ext.label_target, full.label_target)
    np.testing.assert_array_equal(ext.label_time_s, full.label_time_s)
    np.testing.assert_allclose(ext.label_dist_m, full.label_dist_m, rtol=1e-12)
    np.testing.assert_array_equal(ext._tree_matrix, full._tree_matrix)
    q = snap_points(g, *_random_snappable(g, 300, seed=42))
    a, b = ext.query(q, k=5), full.query(q, k=5)
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.travel_s, b.travel_s)
    for x, y in zip(a.geometry.ravel(), b.geometry.ravel(), strict=True):
        assert (x is None) == (y is None) and (x is None or x.equals_exact(y, 0.0))
    # through the cache: a station set that grows at the end is extended, not rebuilt
    calls: list[int] = []
    extend = TargetIndex.extended
    monkeypatch.setattr(TargetIndex, "extended", lambda self, more, **kw: calls.append(len(more)) or extend(
        self, more, **kw))
    ids = np.array([f"S{i}" for i in range(40)], dtype=object)
    first, _ = station_index(g, station_lon=st_lon[:30], station_lat=st_lat[:30], station_ids=ids[:30], k=5,
                             station_key="v1")
    grown, snapped = station_index(g, station_lon=st_lon, station_lat=st_lat, station_ids=ids, k=5,
                                   station_key="v2")
    assert grown is not first and grown.n_targets == 40 and len(snapped) == 40 and calls == [10]
    np.testing.assert_array_equal(grown.label_time_s, full.label_time_s)
    np.testing.assert_array_equal(grown._tree_matrix, full._tree_matrix)
