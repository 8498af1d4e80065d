"""Site proposals: solvers against exhaustive enumeration, the cover matrix against networkx, the sample."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from geomap.network.graph import StreetGraph
from geomap.network.routing import snap_points
from geomap.planning.coverage import coverage, filter_stations
from geomap.planning.siting import Candidates, candidate_cover, exact_mclp, greedy_mclp, propose_sites
from geomap.stations.registry import Registry
from tests._nx import brute_force_times
from tests._workspaces import need_sample

ROOT = Path(__file__).resolve().parents[2]


def _brute(cover: np.ndarray, w: np.ndarray, p: int) -> float:
    best = 0.0
    for combo in itertools.combinations(range(cover.shape[0]), p):
        best = max(best, float(w[cover[list(combo)].any(0)].sum()))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_exact_equals_enumeration_and_greedy_within_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cand, n_cli = int(rng.integers(5, 11)), int(rng.integers(10, 40))
    cover = rng.random((n_cand, n_cli)) < rng.uniform(0.1, 0.4)
    w = rng.uniform(0.1, 5.0, n_cli)
    p = int(rng.integers(1, 4))
    opt = _brute(cover, w, p)
    chosen, obj = exact_mclp(sp.csr_matrix(cover), w, p)
    assert len(chosen) <= p
    assert obj == pytest.approx(opt, rel=1e-9)
    assert float(w[cover[chosen].any(0)].sum()) == pytest.approx(opt, rel=1e-9)
    g_chosen, gains = greedy_mclp(sp.csr_matrix(cover), w, p)
    g_obj = float(w[cover[g_chosen].any(0)].sum()) if g_chosen else 0.0
    assert g_obj == pytest.approx(sum(gains))
    assert g_obj >= (1 - 1 / np.e) * opt - 1e-9
    assert g_obj <= opt + 1e-9


def test_greedy_is_lazy_but_exact_greedy() -> None:
    """Lazy evaluation picks what the plain greedy (recompute every gain each round) picks."""
    rng = np.random.default_rng(7)
    cover = rng.random((60, 300)) < 0.05
    w = rng.uniform(0, 1, 300)
    chosen, _ = greedy_mclp(sp.csr_matrix(cover), w, 8)
    covered = np.zeros(300, bool)
    plain = []
    for _ in range(8):
        gains = (cover & ~covered).astype(float) @ w
        j = int(np.argmax(gains))
        plain.append(j)
        covered |= cover[j]
    assert chosen == plain


def test_cover_matrix_on_a_one_way_line() -> None:
    # 0 -> 1 -> 2 one-way east, 100 s per street; a candidate at node 1; points on both streets
    g = StreetGraph.from_arrays(node_lon=[121.5, 121.501, 121.502], node_lat=[31.3] * 3, edge_u=[0, 1],
                                edge_v=[1, 2], forward=True, backward=False, travel_s=[100.0, 100.0])
    cand = Candidates(np.array([121.501]), np.array([31.3]), np.array(["c"], dtype=object),
                      np.array(["c"], dtype=object), np.array(["test"], dtype=object))
    lon = np.array([121.5002, 121.5008, 121.5015])  # fractions 0.2, 0.8 of street 0; 0.5 of street 1
    cover, ok = candidate_cover(g, cand, lon, np.full(3, 31.3001), minutes=1.0)
    assert ok.all()
    # 60 s: from 0.8 of street 0 it takes 20 s (yes), from 0.2 80 s (no); street 1 rides away (no)
    assert cover.toarray().tolist() == [[False, True, False]]


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    """The sample workspace's study (its extract, census, restaurants)."""
    from geomap.workspace import open_workspace

    return open_workspace(need_sample()).study()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    reg = Registry(tmp_path_factory.mktemp("reg") / "r.gpkg")
    reg.import_file(ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv", crs="gcj02")
    return reg


@pytest.mark.realdata
def test_real_cover_matrix_equals_dijkstra_per_point(study) -> None:  # type: ignore[no-untyped-def]
    """Independent check: one Dijkstra *from* each demand point (forward graph) to the candidates."""
    g = study.graph("ebike")
    cands = study.candidates(sources=("osm",))
    lay = study.layer("restaurants")
    cover, _ = candidate_cover(g, cands, lay.lon, lay.lat, minutes=5)
    ps = snap_points(g, lay.lon, lay.lat, errors="ignore")
    cs = snap_points(g, cands.lon, cands.lat, errors="ignore")
    want = (brute_force_times(g, ps, cs) <= 300 + 1e-9).T  # (candidates, points)
    assert (cover.toarray() == want).all()
    assert want.any() and not want.all()


@pytest.mark.realdata
def test_sample_plan_greedy_and_exact_side_by_side(study, registry) -> None:  # type: ignore[no-untyped-def]
    g = study.graph("walk")
    stations = filter_stations(registry.index, kind="driver_home")
    res = coverage(g, stations, minutes=15, demand=study.demand, subdistricts=study.subdistricts, with_area=False)
    cands = study.candidates()
    greedy = propose_sites(g, stations, res, cands, p=3, solver="greedy", subdistricts=study.subdistricts)
    exact = propose_sites(g, stations, res, cands, p=3, solver="exact", subdistricts=study.subdistricts)
    assert len(greedy.table) == len(exact.table) == 3
    assert exact.objective >= greedy.objective - 1e-12
    assert greedy.objective >= (1 - 1 / np.e) * exact.objective
    # adding the proposed sites as stations gives the reported cumulative coverage
    for plan in (greedy, exact):
        pos = [int(np.flatnonzero(cands.ids == sid)[0]) for sid in plan.table["site_id"]]
        from geomap.planning.coverage import Stations

        more = Stations(np.r_[stations.lon, cands.lon[pos]], np.r_[stations.lat, cands.lat[pos]],
                        np.r_[stations.ids, cands.ids[pos]])
        after = coverage(g, more, minutes=15, demand=study.demand, with_area=False)
        last = plan.table.iloc[-1]
        for name in res.demand:
            assert after.share(name) == pytest.approx(last[f"{name}_share_after"], rel=1e-9)
        assert plan.table["serves"].str.len().gt(0).all()
    with pytest.raises(ValueError, match="p must be"):
        propose_sites(g, stations, res, cands, p=0)


@pytest.mark.realdata
def test_plan_when_everything_is_covered_proposes_nothing(study, registry) -> None:  # type: ignore[no-untyped-def]
    g = study.graph("ebike")
    stations = filter_stations(registry.index)
    res = coverage(g, stations, minutes=15, demand=study.demand, with_area=False)
    assert all(res.share(n) == 1.0 for n in res.demand)
    plan = propose_sites(g, stations, res, study.candidates(sources=("osm",)), p=2)
    assert len(plan.table) == 0 and plan.objective == 0
    assert any("已覆盖全部需求，不需要新增站点" in n for n in plan.notes)
    assert plan.to_geojson()["features"] == []


def test_candidates_from_a_user_file_in_gcj02(tmp_path: Path) -> None:
    import pandas as pd

    from geomap.coords import from_wgs84
    from geomap.planning.siting import file_candidates

    glon, glat = from_wgs84(np.array([121.50, 121.51]), np.array([31.30, 31.29]), dst="gcj02")
    path = tmp_path / "cands.csv"
    pd.DataFrame({"名称": ["社区中心A", "加油站B"], "经度": glon, "纬度": glat}).to_csv(path, index=False)
    c = file_candidates(path, crs="gcj02")
    np.testing.assert_allclose(c.lon, [121.50, 121.51], atol=1e-8)
    np.testing.assert_allclose(c.lat, [31.30, 31.29], atol=1e-8)
    assert c.names.tolist() == ["社区中心A", "加油站B"] and c.ids.tolist() == ["file:2", "file:3"]
    path.write_text("name,lon,lat\nA,121.5,31.3\nB,,31.3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 3: missing or invalid coordinate"):
        file_candidates(path)
