"""Network building: profiles, OSM parsing, arrays, cache; checked against networkx and osmnx."""

from __future__ import annotations

import shutil
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geomap.coords import haversine_m
from geomap.network._osm import RawWays, ways_from_overpass
from geomap.network.graph import (
    MODES,
    StreetGraph,
    build_network,
    graph_from_ways,
    load_profiles,
    parse_height_m,
    parse_maxspeed_kmh,
    parse_weight_t,
)
from geomap.network.routing import node_travel_times
from geomap.settings import get_settings

OSM_DIR = Path(__file__).resolve().parents[2] / "data" / "yangpu" / "osm"
PBF = OSM_DIR / "yangpu_wujiaochang.osm.pbf"
XML = OSM_DIR / "yangpu_wujiaochang.osm"


@pytest.fixture(scope="module")
def pbf() -> Path:
    if not PBF.exists():
        pytest.skip(f"sample OSM extract missing: {PBF} (run `make data` with ../shared/data present)")
    return PBF


@pytest.fixture(scope="module")
def xml() -> Path:
    if not XML.exists():
        pytest.skip(f"sample OSM XML missing: {XML} (run `make data` with ../shared/data present)")
    return XML


@pytest.fixture(scope="module")
def graphs(pbf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, StreetGraph]:
    return build_network(pbf, progress=False, cache_dir=tmp_path_factory.mktemp("cache"))


# ---------------------------------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------------------------------


def test_profiles_have_all_modes_and_settings_speeds() -> None:
    p = load_profiles()
    assert set(MODES) <= set(p)
    s = get_settings()
    assert p["walk"].base_speed_kmh == s.walk_speed_kmh
    assert p["ebike"].base_speed_kmh == s.ebike_speed_kmh
    assert p["drive"].base_speed_kmh is None and p["drive"].speed_kmh["primary"] > 0


@pytest.mark.parametrize(
    ("mode", "tags", "expected"),
    [
        ("walk", {"highway": "residential", "oneway": "yes"}, (True, True)),
        ("drive", {"highway": "residential", "oneway": "yes"}, (True, False)),
        ("drive", {"highway": "residential", "oneway": "-1"}, (False, True)),
        ("drive", {"highway": "primary", "junction": "roundabout"}, (True, False)),
        ("ebike", {"highway": "residential", "oneway": "yes"}, (True, False)),
        ("ebike", {"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, (True, True)),
        ("ebike", {"highway": "tertiary", "oneway": "yes", "cycleway": "opposite_lane"}, (True, True)),
        ("ebike", {"highway": "tertiary", "oneway": "yes", "cycleway:left": "opposite_track"}, (True, True)),
        ("walk", {"highway": "footway"}, (True, True)),
        ("ebike", {"highway": "footway"}, None),
        ("ebike", {"highway": "footway", "bicycle": "yes"}, (True, True)),
        ("walk", {"highway": "service", "access": "private"}, None),
        ("walk", {"highway": "service", "access": "private", "foot": "yes"}, (True, True)),
        ("walk", {"highway": "residential", "foot": "no"}, None),
        ("ebike", {"highway": "residential", "bicycle": "no"}, None),
        ("drive", {"highway": "residential", "motor_vehicle": "no"}, None),
        ("drive", {"highway": "footway"}, None),
        ("walk", {"highway": "trunk", "motorroad": "yes"}, None),
        ("ebike", {"highway": "primary", "motorroad": "yes"}, None),
        ("drive", {"highway": "trunk", "motorroad": "yes"}, (True, True)),
        ("truck", {"highway": "primary", "hgv": "no"}, None),
        ("drive", {"highway": "primary", "hgv": "no"}, (True, True)),
        ("truck", {"highway": "primary", "maxweight": "10 t"}, None),
        ("truck", {"highway": "primary", "maxweight": "40"}, (True, True)),
        ("truck", {"highway": "primary", "maxheight": "3.5"}, None),
        ("truck", {"highway": "primary", "maxheight": "4.5 m"}, (True, True)),
        ("walk", {"highway": "pedestrian", "area": "yes"}, None),
        ("walk", {"building": "yes"}, None),
    ],
)
def test_profile_rules(mode: str, tags: dict[str, str], expected: tuple[bool, bool] | None) -> None:
    verdict = load_profiles()[mode].evaluate(tags)
    assert (verdict if verdict is None else verdict[:2]) == expected


def test_profile_speeds() -> None:
    p = load_profiles()
    s = get_settings()
    assert p["walk"].evaluate({"highway": "footway"})[2] == pytest.approx(s.walk_speed_kmh)
    assert p["walk"].evaluate({"highway": "steps"})[2] < s.walk_speed_kmh
    assert p["ebike"].evaluate({"highway": "primary"})[2] == pytest.approx(s.ebike_speed_kmh)
    d = p["drive"]
    assert d.evaluate({"highway": "primary"})[2] == pytest.approx(d.speed_kmh["primary"])
    assert d.evaluate({"highway": "primary", "maxspeed": "60"})[2] == pytest.approx(60 * d.maxspeed_factor)
    assert d.evaluate({"highway": "primary", "maxspeed": "30 mph"})[2] == pytest.approx(
        30 * 1.609344 * d.maxspeed_factor
    )


def test_tag_parsers() -> None:
    assert parse_maxspeed_kmh("60;40") == 40
    assert parse_maxspeed_kmh("CN:urban") is None
    assert parse_weight_t("7500 kg") == pytest.approx(7.5)
    assert parse_weight_t("none") is None
    assert parse_height_m("14'6\"") == pytest.approx(14 * 0.3048 + 6 * 0.0254)
    assert parse_height_m("4.2 m") == pytest.approx(4.2)


# ---------------------------------------------------------------------------------------------------
# building from hand-made ways
# ---------------------------------------------------------------------------------------------------


def _raw(ways: list[tuple[int, dict[str, str], list[int]]], coords: dict[int, tuple[float, float]]) -> RawWays:
    offsets = np.cumsum([0] + [len(n) for _, _, n in ways])
    ids = np.concatenate([n for _, _, n in ways])
    return RawWays(
        way_id=np.array([w for w, _, _ in ways]),
        tags=[t for _, t, _ in ways],
        offsets=offsets,
        node_id=ids,
        lon=np.array([coords[i][0] for i in ids]),
        lat=np.array([coords[i][1] for i in ids]),
    )


def test_ways_split_at_shared_nodes_and_keep_geometry() -> None:
    # a long way 1-2-3-4-5 crossed at 3 by way 6-3-7; node 2 and 4 are shape points only
    c = {1: (121.50, 31.30), 2: (121.501, 31.30), 3: (121.502, 31.30), 4: (121.503, 31.3005), 5: (121.504, 31.30),
         6: (121.502, 31.299), 7: (121.502, 31.301)}
    raw = _raw([(10, {"highway": "residential"}, [1, 2, 3, 4, 5]), (11, {"highway": "footway"}, [6, 3, 7])], c)
    g = graph_from_ways(raw, load_profiles()["walk"])
    assert sorted(g.node_osmid.tolist()) == [1, 3, 5, 6, 7]
    assert g.n_streets == 4
    for s in range(g.n_streets):
        lon, lat = g.street_coords(s)
        assert (lon[0], lat[0]) == (g.node_lon[g.street_u[s]], g.node_lat[g.street_u[s]])
        assert (lon[-1], lat[-1]) == (g.node_lon[g.street_v[s]], g.node_lat[g.street_v[s]])
        length = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]).sum()
        assert g.street_length_m[s] == pytest.approx(length, rel=1e-12)
        assert g.street_travel_s[s] == pytest.approx(length / (get_settings().walk_speed_kmh / 3.6))
    # the e-bike may not use the footway: only the residential way, split nowhere (3 is not shared)
    ge = graph_from_ways(raw, load_profiles()["ebike"])
    assert sorted(ge.node_osmid.tolist()) == [1, 5] and ge.n_streets == 1
    assert len(ge.street_coords(0)[0]) == 5


def test_overpass_json_is_read_like_a_file() -> None:
    resp = {
        "elements": [
            {"type": "node", "id": 1, "lon": 121.5, "lat": 31.3},
            {"type": "node", "id": 2, "lon": 121.501, "lat": 31.3},
            {"type": "node", "id": 3, "lon": 121.502, "lat": 31.3},
            {"type": "way", "id": 9, "nodes": [1, 2, 3], "tags": {"highway": "residential", "oneway": "yes"}},
            {"type": "way", "id": 8, "nodes": [3, 4], "tags": {"highway": "residential"}},  # 4 missing
        ]
    }
    raw = ways_from_overpass([resp])
    assert raw.n_ways == 1 and raw.tags[0]["oneway"] == "yes"
    g = graph_from_ways(raw, load_profiles()["drive"])
    assert g.n_streets == 1 and g.street_forward[0] and not g.street_backward[0]


# ---------------------------------------------------------------------------------------------------
# the real extract
# ---------------------------------------------------------------------------------------------------


def test_pbf_and_xml_give_the_same_graph(graphs: dict[str, StreetGraph], xml: Path, tmp_path: Path) -> None:
    gx = build_network(xml, modes=["walk", "drive"], progress=False, cache=False)
    for m in ("walk", "drive"):
        a, b = graphs[m], gx[m]
        assert a.n_nodes == b.n_nodes and a.n_streets == b.n_streets
        np.testing.assert_array_equal(a.node_osmid, b.node_osmid)
        np.testing.assert_allclose(np.sort(a.street_length_m), np.sort(b.street_length_m), rtol=1e-9)


def test_arrays_are_consistent(graphs: dict[str, StreetGraph]) -> None:
    for g in graphs.values():
        assert g.n_nodes > 500 and g.n_edges > g.n_nodes
        assert np.all(np.diff(g.indptr) >= 0) and g.indptr[-1] == g.n_edges
        assert np.all(g.edge_travel_s >= 0) and np.all(np.isfinite(g.edge_travel_s))
        # each CSR edge is its street, in the right direction
        s = g.edge_street
        assert np.all(np.where(g.edge_forward, g.street_u[s], g.street_v[s]) == g.edge_u)
        assert np.all(np.where(g.edge_forward, g.street_v[s], g.street_u[s]) == g.indices)
        assert np.all(np.where(g.edge_forward, g.street_forward[s], g.street_backward[s]))
        first = g.geom_offsets[:-1]
        np.testing.assert_array_equal(g.geom_lon[first], g.node_lon[g.street_u])
        np.testing.assert_array_equal(g.geom_lat[g.geom_offsets[1:] - 1], g.node_lat[g.street_v])
    # e-bike and drive have one-way streets, walk has none
    assert graphs["walk"].street_forward.all() and graphs["walk"].street_backward.all()
    assert (~graphs["drive"].street_backward).sum() > 20
    assert (~graphs["ebike"].street_backward).sum() > 5


def _nx_from_streets(g: StreetGraph) -> nx.DiGraph:
    """An independent networkx graph from the street table (not from the CSR)."""
    h = nx.DiGraph()
    h.add_nodes_from(range(g.n_nodes))
    for s in range(g.n_streets):
        u, v, t = int(g.street_u[s]), int(g.street_v[s]), float(g.street_travel_s[s])
        for a, b, ok in ((u, v, g.street_forward[s]), (v, u, g.street_backward[s])):
            if ok and a != b and (not h.has_edge(a, b) or h[a][b]["w"] > t):
                h.add_edge(a, b, w=t)
    return h


@pytest.mark.parametrize("mode", ["walk", "ebike", "drive"])
def test_1000_od_pairs_equal_networkx(graphs: dict[str, StreetGraph], mode: str) -> None:
    g = graphs[mode]
    h = _nx_from_streets(g)
    rng = np.random.default_rng(7)
    src = rng.choice(g.n_nodes, 50, replace=False)
    dst = rng.integers(0, g.n_nodes, size=(50, 20))
    ours = node_travel_times(g, src)
    n_pairs = n_reach = 0
    for i, s in enumerate(src):
        ref = nx.single_source_dijkstra_path_length(h, int(s), weight="w")
        for d in dst[i]:
            want = ref.get(int(d), np.inf)
            got = ours[i, d]
            n_pairs += 1
            if np.isinf(want):
                assert np.isinf(got)
            else:
                n_reach += 1
                assert abs(got - want) <= 1e-6 * max(want, 1e-9)
    assert n_pairs == 1000 and n_reach > 500  # the rest: one-way dead ends at the clipped border


def test_walk_matches_osmnx_graph_of_the_xml(graphs: dict[str, StreetGraph], xml: Path) -> None:
    """Same shortest walking times between the same OSM node ids as on osmnx's own (unsimplified) graph
    of the XML file, weighted with our walk profile applied to osmnx's edge tags."""
    ox = pytest.importorskip("osmnx")
    g = graphs["walk"]
    prof = load_profiles()["walk"]
    old_tags = ox.settings.useful_tags_way
    ox.settings.useful_tags_way = [*old_tags, "foot", "motorroad", "bicycle", "vehicle", "motor_vehicle"]
    try:
        G = ox.graph_from_xml(xml, bidirectional=True, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = old_tags
    h = nx.DiGraph()
    for u, v, d in G.edges(data=True):
        verdict = prof.evaluate({k: val for k, val in d.items() if isinstance(val, str)})
        if verdict is None:
            continue
        w = float(d["length"]) / (verdict[2] / 3.6)
        if not h.has_edge(u, v) or h[u][v]["w"] > w:
            h.add_edge(u, v, w=w)
    # every node of ours is an OSM node of osmnx's graph; largest components agree
    assert set(g.node_osmid.tolist()) <= set(h.nodes)
    big_ours = set(g.node_osmid[g.node_component == 0].tolist())
    big_ox = max(nx.weakly_connected_components(h), key=len)
    assert big_ours <= big_ox
    assert len(big_ours) > 0.95 * (g.node_component == 0).sum()
    rng = np.random.default_rng(3)
    src = rng.choice(np.flatnonzero(g.node_component == 0), 10, replace=False)
    ours = node_travel_times(g, src)
    for i, s in enumerate(src):
        ref = nx.single_source_dijkstra_path_length(h, int(g.node_osmid[s]), weight="w")
        want = np.array([ref.get(int(x), np.inf) for x in g.node_osmid])
        np.testing.assert_array_equal(np.isfinite(want), np.isfinite(ours[i]))
        fin = np.isfinite(want)
        # osmnx uses a 0.2 m larger Earth radius: relative difference 3e-8
        np.testing.assert_allclose(ours[i][fin], want[fin], rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------------------


def test_cache_hit_and_rebuilds(xml: Path, tmp_path: Path) -> None:
    src = tmp_path / "area.osm"
    shutil.copy(xml, src)
    cache = tmp_path / "cache"
    first = build_network(src, modes=["walk", "drive"], progress=False, cache_dir=cache)
    assert not first["walk"].from_cache and not first["drive"].from_cache
    again = build_network(src, modes=["walk", "drive"], progress=False, cache_dir=cache)
    assert again["walk"].from_cache and again["drive"].from_cache
    for m in ("walk", "drive"):
        for name in ("node_lon", "indptr", "indices", "edge_travel_s", "geom_lon", "geom_offsets"):
            np.testing.assert_array_equal(getattr(first[m], name), getattr(again[m], name))
    # a changed walking speed (profile) rebuilds walk only
    profiles = load_profiles()
    from dataclasses import replace

    profiles["walk"] = replace(profiles["walk"], base_speed_kmh=4.0)
    changed = build_network(src, modes=["walk", "drive"], progress=False, cache_dir=cache, profiles=profiles)
    assert not changed["walk"].from_cache and changed["drive"].from_cache
    np.testing.assert_allclose(changed["walk"].street_travel_s, first["walk"].street_travel_s * 5.0 / 4.0)
    # a changed input file rebuilds everything
    text = src.read_text(encoding="utf-8")
    src.write_text(text + "\n<!-- edited -->\n", encoding="utf-8")
    edited = build_network(src, modes=["walk", "drive"], progress=False, cache_dir=cache)
    assert not edited["walk"].from_cache and not edited["drive"].from_cache


def test_missing_file_error_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="OSM"):
        build_network(tmp_path / "nope.osm.pbf", progress=False)


def test_download_without_internet_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    import geomap.network.graph as net

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("network unreachable")

    import osmnx._overpass

    monkeypatch.setattr(osmnx._overpass, "_download_overpass_network", boom)
    with pytest.raises(ConnectionError, match="Overpass"):
        net.network_from_bbox((121.50, 31.29, 121.51, 31.30), modes=["walk"], progress=False, cache=False)
