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
    np.testing.assert_allclose(res_t[fin], want_t[fin], rtol=1e-6, atol=1e-6)  # labels are float32
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
            _check_routes(g, res, q, st, q_lon, q_lat, st_lon, st_lat)


def _check_routes(g: StreetGraph, res, q: Snapped, st: Snapped,  # type: ignore[no-untyped-def]
                  q_lon: np.ndarray, q_lat: np.ndarray, st_lon: np.ndarray, st_lat: np.ndarray) -> None:
    n_checked = 0
    for i in range(0, len(q), 7):
        for r in range(res.travel_s.shape[1]):
            line = res.route[i, r]
            if not np.isfinite(res.travel_s[i, r]):
                assert line is None
                continue
            c = np.asarray(line.coords)
            j = res.station_pos[i, r]
            # whole trips: from the point as given, by its foot on the street, to the station as given
            assert c[0] == pytest.approx([q_lon[i], q_lat[i]], abs=1e-9)
            assert c[1] == pytest.approx([q.lon[i], q.lat[i]], abs=1e-9)
            assert c[-1] == pytest.approx([st_lon[j], st_lat[j]], abs=1e-9)
            assert c[-2] == pytest.approx([st.lon[j], st.lat[j]], abs=1e-9)
            length = haversine_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]).sum()
            assert length == pytest.approx(res.distance_m[i, r], abs=0.5, rel=1e-4)
            n_checked += 1
    assert n_checked > 300


def test_nearest_equals_networkx_with_virtual_nodes(graphs: dict[str, StreetGraph]) -> None:
    """Independent check of whole trips: networkx Dijkstra on the street table with the query and every
    station added off their streets, as they are (the access leg to a foot on the street at the access
    speed, partial edges at both ends, a direct edge between feet on the same street)."""
    g = graphs["ebike"]
    st_lon, st_lat = _random_snappable(g, 50, seed=21)
    q_lon, q_lat = _random_snappable(g, 100, seed=22)
    st = snap_points(g, st_lon, st_lat)
    q = snap_points(g, q_lon, q_lat)
    res = network_nearest(
        g, station_lon=st_lon, station_lat=st_lat, query_lon=q_lon, query_lat=q_lat, k=2, return_routes=False
    )
    h = street_digraph(g)

    assert (q.distance_m > 1.0).mean() > 0.5 and (st.distance_m > 1.0).mean() > 0.5  # real access legs

    for j in range(len(st)):
        add_nx_point(h, g, ("s", j), int(st.street[j]), float(st.fraction[j]), leaving=False,
                     off_m=float(st.distance_m[j]))
    for i in range(len(q)):
        name = ("q", i)
        add_nx_point(h, g, name, int(q.street[i]), float(q.fraction[i]), leaving=True, off_m=float(q.distance_m[i]))
        for j in np.flatnonzero(st.street == q.street[i]):
            s, fq, fs = int(q.street[i]), float(q.fraction[i]), float(st.fraction[j])
            if (fs >= fq and g.street_forward[s]) or (fs <= fq and g.street_backward[s]):
                h.add_edge(("foot", name), ("foot", ("s", int(j))), w=abs(fs - fq) * float(g.street_travel_s[s]))
        dist = nx.single_source_dijkstra_path_length(h, name, weight="w")
        want = np.sort([dist.get(("s", j), np.inf) for j in range(len(st))])[:2]
        h.remove_node(name)
        h.remove_node(("foot", name))
        fin = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(res.travel_s[i]), fin)
        np.testing.assert_allclose(res.travel_s[i][fin], want[fin], rtol=1e-6)


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


@pytest.mark.parametrize("mode", ["ebike", "drive"])
def test_a_set_derived_from_a_cached_one_equals_one_built_afresh(graphs: dict[str, StreetGraph], mode: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry edits through the cache: stations added, moved and removed give labels derived from the
    cached set (no full build), and every answer equals labels built from scratch for the new set."""
    from geomap.network import nearest as nn
    from geomap.network.labels import build_labels

    g = graphs[mode]
    st_lon, st_lat = _random_snappable(g, 44, seed=41)
    st_lon[35], st_lat[35] = st_lon[0], st_lat[0]  # a new station at an old one's place: ties by id order
    ids = np.array([f"S{i}" for i in range(44)], dtype=object)
    first = nn.station_labels(g, station_lon=st_lon[:40], station_lat=st_lat[:40], station_ids=ids[:40], k=5,
                              station_key="v1")
    builds: list[int] = []
    monkeypatch.setattr(nn, "build_labels", lambda graph, snapped, **kw: builds.append(len(snapped)) or
                        build_labels(graph, snapped, **kw))
    lon2, lat2 = st_lon.copy(), st_lat.copy()
    lon2[7], lat2[7] = st_lon[41], st_lat[41]  # S7 moved
    keep = np.r_[0:3, 4:44]  # S3 deleted; S40..S43 added
    grown = nn.station_labels(g, station_lon=lon2[keep], station_lat=lat2[keep], station_ids=ids[keep], k=5,
                              station_key="v2")
    assert builds == [] and grown.labels is not first.labels
    fresh = build_labels(g, snap_points(g, lon2[keep], lat2[keep], errors="ignore"), k=5, limit_s=grown.labels.limit_s)
    q = snap_points(g, *_random_snappable(g, 300, seed=42))
    a, b = grown.labels.query(q, k=5), fresh.query(q, k=5)
    pos = np.where(a[0] >= 0, grown.position[np.maximum(a[0], 0)], -1)
    np.testing.assert_array_equal(pos, b[0])  # the same stations (fresh slots are positions)
    np.testing.assert_array_equal(a[1], b[1])  # to the bit: the same arithmetic along the same paths
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(grown.snapped.street, fresh.targets.street)
