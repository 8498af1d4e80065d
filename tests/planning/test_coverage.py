"""Coverage: hand-made graphs with hand-computed answers, and the real extract against networkx brute force."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import networkx as nx
import numpy as np
import pytest
import shapely

from geomap.network.graph import StreetGraph
from geomap.network.routing import snap_points
from geomap.planning.coverage import Stations, _union_fraction, coverage, coverage_of_points, gap_grid
from geomap.planning.demand import DemandLayer
from geomap.stations.registry import Registry
from tests._nx import add_point, street_digraph
from tests._workspaces import need_sample

LON0, LAT0 = 121.50, 31.30
DLON = 0.001


def _stations(lon: list[float], lat: list[float]) -> Stations:
    return Stations(np.asarray(lon, float), np.asarray(lat, float), np.array([f"S{i}" for i in range(len(lon))],
                                                                             dtype=object))


def test_union_fraction_equals_sampling() -> None:
    rng = np.random.default_rng(3)
    n = 40
    street = rng.integers(0, n, 300)
    a = rng.uniform(0, 1, 300)
    b = np.clip(a + rng.uniform(0, 0.4, 300), 0, 1)
    got = _union_fraction(n, street, a, b)
    xs = (np.arange(100_000) + 0.5) / 100_000
    for s in range(n):
        m = street == s
        inside = np.zeros(len(xs), bool)
        for lo, hi in zip(a[m], b[m], strict=True):
            inside |= (xs >= lo) & (xs <= hi)
        assert got[s] == pytest.approx(inside.mean(), abs=1e-4)


def test_one_way_line_covered_lengths_by_hand() -> None:
    """0 → 1 → 2 one-way east, 100 s per street; station at the middle of street 1 (1–2).

    Riding to the station is possible only from the west: with T = 100 s the covered part is the second
    half of street 0 (150 s → 50 s ...) and the first half of street 1 up to the station."""
    g = StreetGraph.from_arrays(node_lon=[LON0, LON0 + DLON, LON0 + 2 * DLON], node_lat=[LAT0] * 3,
                                edge_u=[0, 1], edge_v=[1, 2], forward=True, backward=False, travel_s=[100.0, 100.0])
    st = _stations([LON0 + 1.5 * DLON], [LAT0])
    res = coverage(g, st, minutes=100 / 60, with_area=False)
    # from fraction x of street 0: (1 - x) * 100 + 50 <= 100  <=> x >= 0.5 ; street 1: x in [0, 0.5]
    np.testing.assert_allclose(res.street_covered_fraction, [0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(res.node_time_s, [150.0, 50.0, np.inf])
    total = res.table.iloc[-1]
    assert total["street_share"] == pytest.approx(0.5, abs=1e-6)
    # the same line two-way: everything within 100 s of the middle of street 1 → 1.5 streets of 2
    g2 = StreetGraph.from_arrays(node_lon=[LON0, LON0 + DLON, LON0 + 2 * DLON], node_lat=[LAT0] * 3,
                                 edge_u=[0, 1], edge_v=[1, 2], travel_s=[100.0, 100.0])
    res2 = coverage(g2, st, minutes=100 / 60, with_area=True)
    np.testing.assert_allclose(res2.street_covered_fraction, [0.5, 1.0], atol=1e-9)
    assert res2.covered_area is not None and res2.covered_area.area > 0


def test_demand_shares_on_a_hand_graph() -> None:
    g = StreetGraph.from_arrays(node_lon=[LON0, LON0 + DLON, LON0 + 2 * DLON], node_lat=[LAT0] * 3,
                                edge_u=[0, 1], edge_v=[1, 2], travel_s=[100.0, 100.0])
    st = _stations([LON0], [LAT0])
    lay = DemandLayer("people", "人口", lon=np.array([LON0 + 0.5 * DLON, LON0 + 1.5 * DLON, LON0 + 2 * DLON]),
                      lat=np.full(3, LAT0 + 0.0001), weight=np.array([10.0, 20.0, 30.0]),
                      subdistrict=np.array(["A", "B", "B"], dtype=object))
    res = coverage(g, st, minutes=2.0, demand=[lay], with_area=False)  # 120 s: the first 1.2 streets
    t = res.demand_time_s["people"]
    leg = 0.0001 * 111_195 / (5.0 / 3.6)  # each point 0.0001° (11.1 m) off the street, walked at 5 km/h: 8.0 s
    np.testing.assert_allclose(t, [50.0 + leg, 150.0 + leg, 200.0 + leg], rtol=1e-4)
    assert res.share("people") == pytest.approx(10 / 60)
    np.testing.assert_allclose(res.street_covered_fraction, [1.0, 0.2], atol=1e-9)


def test_no_station_means_nothing_covered() -> None:
    g = StreetGraph.from_arrays(node_lon=[LON0, LON0 + DLON], node_lat=[LAT0] * 2, edge_u=[0], edge_v=[1])
    res = coverage(g, _stations([], []), minutes=15, with_area=True)
    assert res.street_covered_fraction.sum() == 0
    assert "没有符合筛选条件的站点" in " ".join(res.notes)


# --- real extract -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    """The sample workspace's study (its extract, census, restaurants)."""
    from geomap.workspace import open_workspace

    return open_workspace(need_sample()).study()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = Path(__file__).resolve().parents[2]
    reg = Registry(tmp_path_factory.mktemp("reg") / "r.gpkg")
    reg.import_file(root / "data" / "sample" / "yangpu_stations_gcj02.csv", crs="gcj02")
    return reg


def _nx_times_to_stations(g: StreetGraph, st_snap, pts_snap) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Brute force with networkx: every point's time to every station, whole trips (Dijkstra from each
    station on the reversed graph, stations and points added off their streets with their access legs),
    then the minimum."""
    h = street_digraph(g)

    def add(name: object, s: int, f: float, *, leaving: bool, off_m: float) -> None:
        add_point(h, g, name, s, f, leaving=leaving, off_m=off_m)

    for i in np.flatnonzero(pts_snap.ok):
        add(("p", int(i)), int(pts_snap.street[i]), float(pts_snap.fraction[i]), leaving=True,
            off_m=float(pts_snap.distance_m[i]))
    for j in np.flatnonzero(st_snap.ok):
        add(("s", int(j)), int(st_snap.street[j]), float(st_snap.fraction[j]), leaving=False,
            off_m=float(st_snap.distance_m[j]))
        s, fs = int(st_snap.street[j]), float(st_snap.fraction[j])
        for i in np.flatnonzero(pts_snap.ok & (pts_snap.street == s)):
            fq = float(pts_snap.fraction[i])
            if (fs >= fq and g.street_forward[s]) or (fs <= fq and g.street_backward[s]):
                h.add_edge(("foot", ("p", int(i))), ("foot", ("s", int(j))),
                           w=abs(fs - fq) * float(g.street_travel_s[s]))
    rev = h.reverse(copy=False)
    best = np.full(len(pts_snap), np.inf)
    for j in np.flatnonzero(st_snap.ok):
        dist = nx.single_source_dijkstra_path_length(rev, ("s", int(j)), weight="w")
        for i in range(len(pts_snap)):
            d = dist.get(("p", i))
            if d is not None and d < best[i]:
                best[i] = d
    return best


@pytest.mark.realdata
@pytest.mark.parametrize("mode,minutes,kind", [("walk", 15, "driver_home"), ("ebike", 5, None),
                                               ("drive", 3, "outdoor_station")])
def test_real_extract_coverage_equals_networkx_brute_force(study, registry, mode, minutes, kind) -> None:  # type: ignore[no-untyped-def]
    from geomap.planning.coverage import filter_stations

    g = study.graph(mode)
    stations = filter_stations(registry.index, kind=kind)
    res = coverage(g, stations, minutes=minutes, demand=study.demand, subdistricts=study.subdistricts,
                   with_area=False)
    st_snap = snap_points(g, stations.lon, stations.lat, errors="ignore")
    for name, lay in res.demand.items():
        pts = snap_points(g, lay.lon, lay.lat, errors="ignore")
        bf = _nx_times_to_stations(g, st_snap, pts)
        fin = np.isfinite(bf)
        np.testing.assert_array_equal(np.isfinite(res.demand_time_s[name]), fin)
        np.testing.assert_allclose(res.demand_time_s[name][fin], bf[fin], rtol=1e-6, atol=1e-6)  # float32 labels
        covered = bf <= minutes * 60
        assert res.share(name) == pytest.approx(lay.weight[covered].sum() / lay.weight.sum(), rel=1e-12)
        # per 街道 rows add up to the brute-force covered weight too
        for _, row in res.table.iloc[:-1].iterrows():
            m = lay.subdistrict == row["subdistrict"]
            if row["subdistrict"] in lay.missing:  # no figure for this 街道: not measured, not 0
                assert np.isnan(row[name]) and np.isnan(row[f"{name}_covered"]) and not m.any()
                continue
            assert row[f"{name}_covered"] == pytest.approx(lay.weight[m & covered].sum(), rel=1e-9, abs=1e-9)
    # the share is a real fraction on this data, not 0 or 1 everywhere
    shares = [res.share(n) for n in res.demand]
    assert any(0.0 < s < 1.0 for s in shares), shares


@pytest.mark.realdata
def test_real_extract_street_coverage_equals_sampled_points(study, registry) -> None:  # type: ignore[no-untyped-def]
    """Covered street length equals sampling 20 points on each street and asking each its time."""
    from geomap.network.routing import Snapped
    from geomap.planning.coverage import filter_stations, point_times, time_field

    g = study.graph("ebike")
    stations = filter_stations(registry.index, kind="driver_home")
    res = coverage(g, stations, minutes=4, with_area=False)
    rng = np.random.default_rng(5)
    streets = rng.choice(g.n_streets, 300, replace=False)
    fr = (np.arange(20) + 0.5) / 20
    s_rep = np.repeat(streets, 20)
    f_rep = np.tile(fr, len(streets))
    zeros = np.zeros(len(s_rep))
    samples = Snapped(street=s_rep, fraction=f_rep, distance_m=zeros, lon=zeros, lat=zeros,
                      ok=np.ones(len(s_rep), dtype=bool))
    t, _ = point_times(g, time_field(g, stations), samples)
    sampled = (t <= 240).reshape(len(streets), 20).mean(1)
    diff = np.abs(sampled - res.street_covered_fraction[streets])
    assert diff.max() <= 0.05 + 1e-9  # one sample step (1/20) of resolution
    assert 0 < res.table.iloc[-1]["street_share"] < 1


@pytest.mark.realdata
def test_real_extract_covered_area_contains_covered_points(study, registry) -> None:  # type: ignore[no-untyped-def]
    from geomap.planning.coverage import filter_stations

    g = study.graph("walk")
    stations = filter_stations(registry.index, kind="driver_home")
    res = coverage(g, stations, minutes=10, demand=study.demand, subdistricts=study.subdistricts)
    lay = res.demand["restaurants"]
    covered = res.demand_time_s["restaurants"] <= 600
    snapped = snap_points(g, lay.lon, lay.lat, errors="ignore")
    # the snapped position of every covered point lies in the covered area
    assert shapely.contains_xy(res.covered_area.buffer(1e-6), snapped.lon[covered], snapped.lat[covered]).all()
    total = res.table.iloc[-1]
    assert total["covered_area_km2"] > 0
    assert res.table.iloc[:-1]["covered_area_km2"].sum() == pytest.approx(total["covered_area_km2"], rel=0.02)
    layers = res.layers_geojson()
    assert layers["covered_area"]["features"] and len(layers["restaurants"]["features"]) == len(lay)


@pytest.mark.realdata
def test_real_extract_gap_grid(study, registry) -> None:  # type: ignore[no-untyped-def]
    from geomap.planning.coverage import filter_stations

    g = study.graph("walk")
    stations = filter_stations(registry.index, kind="driver_home")
    res = coverage(g, stations, minutes=15, demand=study.demand, subdistricts=study.subdistricts, with_area=False)
    grid = gap_grid(res, g, stations, study.study_area, resolution=9, subdistricts=study.subdistricts)
    want_cells = set(h3.geo_to_cells(shapely.geometry.mapping(study.study_area), 9))
    assert set(grid["h3"]) == want_cells
    # travel minutes are the network answer from each centre
    lat, lon = np.array([h3.cell_to_latlng(c) for c in grid["h3"]]).T
    t, _ = coverage_of_points(g, stations, lon, lat)
    np.testing.assert_allclose(grid["travel_min"].to_numpy(float), np.where(np.isfinite(t), t / 60, np.nan))
    assert (grid["covered"] == (grid["travel_min"] <= 15)).all()
    # demand inside cells adds up to the demand inside the grid
    for name, lay in res.demand.items():
        cells = np.array([h3.latlng_to_cell(a, o, 9) for o, a in zip(lay.lon, lay.lat, strict=True)])
        inside = np.isin(cells, list(want_cells))
        assert grid[name].sum() == pytest.approx(lay.weight[inside].sum())
    unc = grid[grid["gap_rank"].notna()].sort_values("gap_rank")
    assert (~unc["covered"]).all() and (np.diff(unc["demand"].to_numpy()) <= 1e-15).all()
    assert unc["gap_rank"].tolist() == list(range(1, len(unc) + 1))
    fc = json.loads(grid.to_json(na="null", drop_id=True))
    props = fc["features"][0]["properties"]
    want = {"h3", "subdistrict", "travel_min", "covered", "residents", "restaurants", "demand", "gap_rank"}
    assert want <= set(props)


@pytest.mark.parametrize("backward,stations_f,want_s,want_j", [
    (True, [0.2, 0.7], 20.0, 1),   # two-way: the nearer one along the street, either side
    (True, [0.45, 0.7], 5.0, 0),
    (False, [0.2, 0.9], 40.0, 1),  # one-way forward: only the one ahead, though farther
])
def test_point_times_with_several_stations_on_its_street(backward: bool, stations_f: list[float], want_s: float,
                                                         want_j: int) -> None:
    from geomap.planning.coverage import point_times, time_field

    g = StreetGraph.from_arrays(node_lon=[LON0, LON0 + DLON], node_lat=[LAT0] * 2, edge_u=[0], edge_v=[1],
                                backward=backward, travel_s=[100.0])
    st = _stations([LON0 + f * DLON for f in stations_f], [LAT0] * len(stations_f))
    pts = snap_points(g, [LON0 + 0.5 * DLON], [LAT0])
    t, who = point_times(g, time_field(g, st), pts)
    assert t[0] == pytest.approx(want_s, abs=1e-6)
    assert who[0] == want_j
    t2, ids = coverage_of_points(g, st, [LON0 + 0.5 * DLON], [LAT0])
    assert t2[0] == pytest.approx(want_s, abs=1e-6) and ids[0] == f"S{want_j}"
