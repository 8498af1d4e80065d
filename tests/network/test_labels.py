"""The k-nearest-station labels (geomap.network.labels) against brute force: networkx on random graphs with
integer weights (many ties, one-way streets, a limit), scipy per station on the real extract; edits in place
against a fresh build; routes against networkx shortest paths."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geomap.network.graph import StreetGraph, build_network
from geomap.network.labels import build_labels
from geomap.network.routing import Snapped, snap_points, travel_times_from
from tests._nx import add_point, leg_s, street_digraph

PBF = Path(__file__).resolve().parents[2] / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
BIG = 1_000_000  # distance tie-break in the lexicographic brute force: time * BIG + metres


def random_graph(seed: int, n: int = 40, m: int = 90) -> StreetGraph:
    """A random street graph with integer travel times and lengths, a third of the streets one-way; access
    legs at 3.6 km/h (1 m/s: a leg's seconds are its metres, exact integers too)."""
    rng = np.random.default_rng(seed)
    lon = 121.5 + rng.uniform(0, 0.01, n)
    lat = 31.3 + rng.uniform(0, 0.01, n)
    u = rng.integers(0, n, m)
    v = (u + rng.integers(1, n, m)) % n
    one_way = rng.random(m) < 0.33
    back = rng.random(m) < 0.5
    return StreetGraph.from_arrays(node_lon=lon, node_lat=lat, edge_u=u, edge_v=v,
                                   forward=~(one_way & back), backward=~(one_way & ~back),
                                   length_m=rng.integers(1, 6, m) * 10.0, travel_s=rng.integers(1, 5, m) * 4.0,
                                   access_speed_kmh=3.6)


def random_stations(g: StreetGraph, n: int, seed: int) -> Snapped:
    """Stations at fractions in quarters of random streets (ends included, several on one street), 0, 10,
    20 or 30 m off their street (the access legs)."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, g.n_streets, n)
    s[1] = s[0]  # two stations on one street
    f = rng.integers(0, 5, n) / 4.0
    off = rng.integers(0, 4, n) * 10.0
    return Snapped(street=s.astype(np.int64), fraction=f, distance_m=off, lon=np.zeros(n),
                   lat=np.zeros(n), ok=np.ones(n, dtype=bool))


def brute_labels(g: StreetGraph, st: Snapped, k: int, limit_s: float, alive: np.ndarray | None = None):
    """Per node the k best (time, station) with each one's least distance among quickest paths: one
    networkx Dijkstra per station on the reversed graph, weights time * BIG + metres (exact integers)."""
    h = nx.DiGraph()
    for s in range(g.n_streets):
        a, b = int(g.street_u[s]), int(g.street_v[s])
        for x, y, ok in ((a, b, g.street_forward[s]), (b, a, g.street_backward[s])):
            w = g.street_travel_s[s] * BIG + g.street_length_m[s]
            if ok and x != y and (not h.has_edge(x, y) or h[x][y]["w"] > w):
                h.add_edge(x, y, w=w)
    h.add_nodes_from(range(g.n_nodes))
    rows: list[list[tuple[float, int, float]]] = [[] for _ in range(g.n_nodes)]
    for j in range(len(st)):
        if not st.ok[j] or (alive is not None and not alive[j]):
            continue
        s, f = int(st.street[j]), float(st.fraction[j])
        hj = h.copy()
        t, ln = g.street_travel_s[s], g.street_length_m[s]
        off = float(st.distance_m[j])
        hj.add_edge("F", "S", w=leg_s(g, off) * BIG + off)  # the station's access leg from its foot
        if g.street_forward[s] or f == 0.0:
            hj.add_edge(int(g.street_u[s]), "F", w=f * t * BIG + f * ln)
        if g.street_backward[s] or f == 1.0:
            hj.add_edge(int(g.street_v[s]), "F", w=(1 - f) * t * BIG + (1 - f) * ln)
        dist = nx.single_source_dijkstra_path_length(hj.reverse(copy=False), "S", weight="w")
        for x, w in dist.items():
            if x not in ("S", "F") and w // BIG <= limit_s:
                rows[x].append((w // BIG, j, w % BIG))
    return [sorted(r)[:k] for r in rows]


def assert_labels_equal(lab, want) -> None:
    for x, row in enumerate(want):
        got = [(float(lab.time_s[x, q]), int(lab.station[x, q]), float(lab.dist_m[x, q]))
               for q in range(int(lab.count[x]))]
        assert [(t, j) for t, j, _ in got] == [(t, j) for t, j, _ in row], x
        np.testing.assert_allclose([d for *_, d in got], [d for *_, d in row], rtol=1e-6)


def assert_next_hops_consistent(g: StreetGraph, lab) -> None:
    """Every label's next hop holds the same station, and time = next's time + the edge (or the partial
    street when the next hop is the station's own street)."""
    for x in range(g.n_nodes):
        for q in range(int(lab.count[x])):
            j, y = int(lab.station[x, q]), int(lab.next_node[x, q])
            if y == -1:
                s = int(lab.targets.street[j])
                assert x in (int(g.street_u[s]), int(g.street_v[s]))
                continue
            row = [int(c) for c in lab.station[y, : lab.count[y]]]
            assert j in row, (x, j, y)
            e = [e for e in range(g.indptr[x], g.indptr[x + 1]) if g.indices[e] == y]
            assert len(e) == 1
            assert lab.time_s[x, q] == np.float32(np.float64(lab.time_s[y, row.index(j)]) + g.edge_travel_s[e[0]])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_labels_equal_brute_force_on_random_graphs(seed: int, k: int) -> None:
    g = random_graph(seed)
    st = random_stations(g, 9, seed + 100)
    for limit in (np.inf, 20.0):
        lab = build_labels(g, st, k=k, limit_s=limit)
        assert_labels_equal(lab, brute_labels(g, st, k, limit))
        assert_next_hops_consistent(g, lab)


def test_a_hundred_random_edits_equal_a_fresh_build() -> None:
    """Adds, moves and deletes in random order, each applied in place; after every tenth and at the end the
    labels equal a fresh build of the stations then alive (and the networkx brute force at the end)."""
    rng = np.random.default_rng(5)
    g = random_graph(7, n=60, m=140)
    st = random_stations(g, 12, 8)
    lab = build_labels(g, st, k=3, limit_s=np.inf)
    for step in range(100):
        live = np.flatnonzero(lab.alive)
        op = rng.integers(0, 3) if len(live) > 2 else 0
        new = random_stations(g, 2, 1000 + step).take(np.array([int(rng.integers(0, 2))]))
        if op == 0:  # add three at once (ties among new stations too)
            three = random_stations(g, 3, 2000 + step)
            lab = lab.with_changes(add=three, add_ids=[f"n{step}-{i}" for i in range(3)])
        elif op == 1:  # delete
            lab = lab.with_changes(remove=[int(rng.choice(live))])
        else:  # move: remove and add again (a new slot)
            lab = lab.with_changes(remove=[int(rng.choice(live))], add=new, add_ids=[f"m{step}"])
        if step % 10 == 9 or step == 99:
            fresh = build_labels(g, lab.targets, k=3, limit_s=np.inf)
            fresh.remove(np.flatnonzero(~lab.alive))  # dead slots: removed before anything was built
            ref = build_labels(g, Snapped(*(getattr(lab.targets, f) for f in
                                            ("street", "fraction", "distance_m", "lon", "lat")),
                                          ok=lab.targets.ok & lab.alive), k=3, limit_s=np.inf)
            for a in ("station", "time_s", "dist_m", "count"):
                np.testing.assert_array_equal(getattr(lab, a), getattr(ref, a), err_msg=f"{a} after {step + 1}")
                np.testing.assert_array_equal(getattr(fresh, a), getattr(ref, a))
            assert_next_hops_consistent(g, lab)
    assert_labels_equal(lab, brute_labels(g, lab.targets, 3, np.inf, alive=lab.alive))


@pytest.mark.parametrize("limit_s", [np.inf, 40.0])
def test_queries_and_routes_equal_networkx_shortest_paths(limit_s: float) -> None:
    """A point's k quickest stations: the times of networkx shortest paths from the point (with the partial
    streets at both ends and both access legs), none beyond the limit (the whole trip), and each route's
    pieces add up to its time and run from the point to the station."""
    g = random_graph(3, n=50, m=120)
    st = random_stations(g, 10, 4)
    lab = build_labels(g, st, k=4, limit_s=limit_s)
    h = street_digraph(g)
    rng = np.random.default_rng(9)
    q = random_stations(g, 30, 10)
    q.fraction = np.round(rng.uniform(0, 1, 30), 3)
    slot, tt, dd, via = lab.query(q, k=4)
    for p in range(len(q)):
        hp = h.copy()
        add_point(hp, g, "Q", int(q.street[p]), float(q.fraction[p]), leaving=True, off_m=float(q.distance_m[p]))
        for j in range(len(st)):
            add_point(hp, g, ("S", j), int(st.street[j]), float(st.fraction[j]), leaving=False,
                      off_m=float(st.distance_m[j]))
        want = []
        dist = nx.single_source_dijkstra_path_length(hp, "Q", weight="w")
        for j in range(len(st)):
            best = dist.get(("S", j), np.inf)
            if st.street[j] == q.street[p]:  # along the shared street without passing a node
                d = st.fraction[j] - q.fraction[p]
                s = int(st.street[j])
                if (d >= 0 and g.street_forward[s]) or (d <= 0 and g.street_backward[s]):
                    legs = leg_s(g, q.distance_m[p]) + leg_s(g, st.distance_m[j])
                    best = min(best, abs(d) * g.street_travel_s[s] + legs)
            want.append(best)
        want = [w if w <= limit_s else np.inf for w in want]
        order = sorted(range(len(st)), key=lambda j: (want[j], j))[:4]
        got_t = [t for t in tt[p] if np.isfinite(t)]
        np.testing.assert_allclose(got_t, [want[j] for j in order if np.isfinite(want[j])], rtol=1e-6)
    rid, street, fa, fb = lab.route_pieces(q, slot, via)
    for r in np.unique(rid):
        p, rank = divmod(int(r), 4)
        sel = rid == r
        j = int(slot[p, rank])
        legs_m = float(q.distance_m[p] + st.distance_m[j])  # the two access legs, off the street pieces
        t = float(np.sum(np.abs(fb[sel] - fa[sel]) * g.street_travel_s[street[sel]])) + leg_s(g, legs_m)
        d = float(np.sum(np.abs(fb[sel] - fa[sel]) * g.street_length_m[street[sel]])) + legs_m
        assert t == pytest.approx(tt[p, rank], rel=1e-5) and d == pytest.approx(dd[p, rank], rel=1e-5)
        assert street[sel][0] == q.street[p] and fa[sel][0] == q.fraction[p]
        j = int(slot[p, rank])
        assert street[sel][-1] == st.street[j] and fb[sel][-1] == st.fraction[j]


@pytest.mark.realdata
@pytest.mark.parametrize("mode", ["walk", "ebike", "drive"])
def test_real_extract_labels_equal_one_search_per_station(mode: str, tmp_path: Path) -> None:
    """k = 5 on the sample extract against scipy: one Dijkstra per station from every node to it."""
    if not PBF.exists():
        pytest.skip("sample OSM extract missing: run `make data`")
    g = build_network(PBF, modes=[mode], progress=False, cache=False)[mode]
    rng = np.random.default_rng(1)
    idx = rng.choice(g.n_nodes, 40, replace=False)
    st = snap_points(g, g.node_lon[idx] + rng.normal(0, 2e-4, 40), g.node_lat[idx] + rng.normal(0, 2e-4, 40),
                     errors="ignore")
    lab = build_labels(g, st, k=5, limit_s=np.inf)
    times = travel_times_from(g, st, direction="to")  # (stations, nodes): node -> station
    order = np.argsort(times.T, axis=1, kind="stable")[:, :5]
    want = np.take_along_axis(times.T, order, axis=1)
    got = np.where(lab.count[:, None] > np.arange(5), lab.time_s, np.inf).astype(np.float64)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=2e-6, atol=1e-3)
    srt = np.sort(times.T, axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf among unreachable stations
        gap = np.minimum(np.diff(srt, axis=1, prepend=-np.inf)[:, :5],
                         np.diff(srt, axis=1, append=np.inf)[:, :5])
    clear = fin & (gap > 1e-2)
    assert clear.sum() > 0.95 * fin.sum()
    np.testing.assert_array_equal(lab.station[clear], order[clear])
