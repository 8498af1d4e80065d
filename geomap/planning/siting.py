"""Site proposals (新站点选址): p new stations that add the most uncovered demand within T minutes.

Maximal covering location problem (MCLP, Church & ReVelle 1974), keeping the existing stations:

1. demand points (every layer) not yet within T of an existing station are the clients; a client's weight
   is its amount in resident equivalents (:mod:`geomap.planning.weights`: a resident 1, a pickup point
   ``settings.pickup_weight``) — the same score as the gap grid's ``demand``;
2. candidates: OSM places unions really host stations in, those that fit the kind of station
   (``vocab/host_places.toml``: a canteen in a community centre or an eatery, a driver home at a fuel
   station, not a canteen in a bank — unless ``any_host``), H3 cell centres, or a user file;
3. the cover matrix (candidate × client: can the client reach the candidate within T along the network,
   one-way streets honoured) is built apart from the models, from one bounded reverse Dijkstra per
   candidate (scipy.sparse.csgraph) and the clients' snapped street positions;
4. two solvers on that matrix: :func:`greedy_mclp` (lazy greedy, any size, ≥ (1 − 1/e) of the optimum
   since coverage is submodular) and :func:`exact_mclp` (the integer programme solved by CBC via PuLP)
   for instances that fit ``settings.exact_max_pairs``; :func:`compare_plans` tells the two apart in
   plain words;
5. every proposal gets an address: its OSM ``addr:street`` / ``addr:housenumber`` when it has them, else
   its nearest named junction or road (:mod:`geomap.planning.naming`); a cell centre is named by it.

Coordinates WGS84 lon/lat degrees; times in seconds (``*_s``) or minutes.
"""

from __future__ import annotations

import heapq
import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely

from geomap.coords import from_wgs84, to_wgs84
from geomap.network.graph import StreetGraph
from geomap.network.reach import within
from geomap.network.routing import access_s, end_access, snap_points
from geomap.planning.coverage import CoverageResult, Stations
from geomap.planning.naming import StreetNamer
from geomap.planning.subdistricts import assign_subdistrict
from geomap.planning.weights import DemandWeights, demand_weights
from geomap.settings import get_settings

__all__ = ["H3_SOURCE", "HOST_PLACES", "Candidates", "SitePlan", "candidate_cover", "compare_plans", "exact_mclp",
           "file_candidates", "greedy_mclp", "h3_candidates", "host_places", "osm_candidates", "propose_sites",
           "solver_label"]

H3_SOURCE = "网格中心"
"""``source`` of an H3 cell-centre candidate: a place on the map, not yet a building to host the station."""


@cache
def _host_vocab() -> tuple[dict[str, tuple[tuple[str, str], str]], dict[str, tuple[str, ...]]]:
    """``vocab/host_places.toml``: place key -> ((OSM key, value), label); station kind -> place keys."""
    with (Path(__file__).resolve().parent.parent / "vocab" / "host_places.toml").open("rb") as fh:
        data = tomllib.load(fh)
    places = {k: (tuple(v["tag"].split("=", 1)), v["label"]) for k, v in data["places"].items()}
    fits = {kind: tuple(keys) for kind, keys in data["fits"].items()}
    for kind, keys in fits.items():
        unknown = set(keys) - set(places)
        if unknown:
            raise ValueError(f"host_places.toml: [fits] {kind} names unknown places {sorted(unknown)}")
    return places, fits  # type: ignore[return-value]


# OSM tags of every place unions host stations in, with their Chinese labels (vocab/host_places.toml)
HOST_PLACES: dict[tuple[str, str], str] = {tag: label for tag, label in _host_vocab()[0].values()}


def host_places(kinds: Any = None, *, any_host: bool = False) -> dict[tuple[str, str], str]:
    """The OSM tags (with Chinese labels) of the places a new station of ``kinds`` may be proposed in.

    ``kinds``: station kind keys or Chinese aliases (one, a list, or None: a general station, i.e.
    ``outdoor_station``); the places fitting any of them (``vocab/host_places.toml`` [fits]).
    ``any_host``: every host place, whatever the kind (the planner allows it explicitly)."""
    places, fits = _host_vocab()
    if any_host:
        return dict(HOST_PLACES)
    if kinds is None or kinds == [] or kinds == ():
        keys: list[str] = list(fits["outdoor_station"])
    else:
        from geomap.stations.index import StationFilter

        keys = []
        for kind in StationFilter.make(kind=kinds).kind:
            keys += [k for k in fits.get(kind, fits["outdoor_station"]) if k not in keys]
    return {places[k][0]: places[k][1] for k in keys}


@dataclass
class Candidates:
    """Candidate sites: WGS84 lon/lat degrees, an id, a display name, where each came from (Chinese label:
    银行网点, 网格中心, 用户文件 …) and its address when known (None: told by its streets when proposed)."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    ids: npt.NDArray[np.object_]
    names: npt.NDArray[np.object_]
    source: npt.NDArray[np.object_]
    address: npt.NDArray[np.object_] | None = None

    def __post_init__(self) -> None:
        if self.address is None:
            self.address = np.full(len(self.lon), None, dtype=object)

    def __len__(self) -> int:
        return len(self.lon)

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("lon", "lat", "ids", "names",
                                                                              "source", "address")))


def _tag_address(street: Any, number: Any) -> str | None:
    if not isinstance(street, str) or not street.strip():
        return None
    num = number.strip() if isinstance(number, str) else ""
    return f"{street.strip()}{num}{'号' if num and num[-1].isdigit() else ''}"


def osm_candidates(pois: Any, *, study_area: shapely.Geometry | None = None, kinds: Any = None,
                   any_host: bool = False) -> Candidates:
    """Host places among the extract's POIs that fit a station of ``kinds`` (:func:`host_places`; every
    host place with ``any_host``), inside ``study_area`` when given. A place without a name is called by its
    label (银行网点 …); its address is its ``addr:street`` + ``addr:housenumber`` tags when it has them."""
    rows = []
    for (key, value), label in host_places(kinds, any_host=any_host).items():
        if key not in pois.columns:
            continue
        sel = pois[pois[key] == value]
        street = sel["addr:street"] if "addr:street" in sel.columns else [None] * len(sel)
        number = sel["addr:housenumber"] if "addr:housenumber" in sel.columns else [None] * len(sel)
        for osm_type, osm_id, name, geom, st, no in zip(sel["osm_type"], sel["osm_id"], sel["name"], sel.geometry,
                                                        street, number, strict=True):
            rows.append((geom.x, geom.y, f"osm:{osm_type}/{osm_id}", name if isinstance(name, str) else label,
                         label, _tag_address(st, no)))
    if study_area is not None:
        rows = [r for r in rows if shapely.contains_xy(study_area, r[0], r[1])]
    return _from_rows(rows)


def _from_rows(rows: list[tuple[float, float, str, str, str, str | None]]) -> Candidates:
    if not rows:
        e = np.zeros(0, dtype=object)
        return Candidates(np.zeros(0), np.zeros(0), e, e.copy(), e.copy(), e.copy())
    lon, lat, ids, names, src, addr = zip(*rows, strict=True)
    return Candidates(np.asarray(lon, float), np.asarray(lat, float), np.asarray(ids, dtype=object),
                      np.asarray(names, dtype=object), np.asarray(src, dtype=object), np.asarray(addr, dtype=object))


def h3_candidates(study_area: shapely.Geometry, *, resolution: int | None = None) -> Candidates:
    """The centres of the H3 cells covering ``study_area`` (resolution default ``settings.h3_resolution``)."""
    import h3

    res = int(get_settings().h3_resolution if resolution is None else resolution)
    cells = sorted(h3.geo_to_cells(shapely.geometry.mapping(study_area), res))
    rows = []
    for c in cells:
        la, lo = h3.cell_to_latlng(c)
        rows.append((lo, la, f"h3:{c}", f"网格 {c}", H3_SOURCE, None))
    return _from_rows(rows)


def file_candidates(path: str | Path, *, crs: str = "wgs84", name_column: str | None = None) -> Candidates:
    """Candidate sites from a user file (CSV with lon/lat columns, or GeoJSON / GeoPackage points) in ``crs``;
    names from ``name_column`` (default ``name`` / ``名称`` / ``站点名称``), addresses from ``address`` / ``地址``."""
    from geomap.planning.demand import read_points_file

    df, lon, lat, row0 = read_points_file(path, what="candidate")
    name_column = name_column or next((c for c in ("name", "名称", "站点名称") if c in df.columns), None)
    names = df[name_column].astype(str).to_numpy(object) if name_column else np.array(
        [f"候选点 {i + 1}" for i in range(len(lon))], dtype=object)
    addr_column = next((c for c in ("address", "地址", "站点地址") if c in df.columns), None)
    address = (np.array([a if isinstance(a, str) and a.strip() else None for a in df[addr_column]], dtype=object)
               if addr_column else None)
    wlon, wlat = to_wgs84(lon, lat, src=crs)
    return Candidates(np.asarray(wlon, float), np.asarray(wlat, float),
                      np.array([f"file:{i + row0}" for i in range(len(lon))], dtype=object), names,
                      np.full(len(lon), "用户文件", dtype=object), address)


def candidate_cover(graph: StreetGraph, candidates: Candidates, lon: npt.ArrayLike, lat: npt.ArrayLike, *,
                    minutes: float, max_snap_m: float | None = None
                    ) -> tuple[sp.csr_matrix, npt.NDArray[np.bool_]]:
    """Cover matrix ``(n_candidates, n_points)``: True where the point reaches the candidate within
    ``minutes`` along ``graph`` (riding from the point to the candidate): one search per candidate that
    stops at ``minutes`` (:func:`geomap.network.reach.within`), joined to the points through the ends of
    their streets, plus travel along a shared street. Also returns which candidates snapped onto the
    network (others cover nothing)."""
    limit_s = float(minutes) * 60.0
    lon = np.atleast_1d(np.asarray(lon, float))
    lat = np.atleast_1d(np.asarray(lat, float))
    cs = snap_points(graph, candidates.lon, candidates.lat, max_snap_m=max_snap_m, errors="ignore")
    ps = snap_points(graph, lon, lat, max_snap_m=max_snap_m, errors="ignore")
    pok = np.flatnonzero(ps.ok)
    s = ps.street[pok]
    f = ps.fraction[pok]
    leg = access_s(graph, ps.distance_m[pok])  # the point's access leg (the candidate's is in `within`)
    t = graph.street_travel_s[s]
    u, v = graph.street_u[s], graph.street_v[s]
    v_ok, u_ok = end_access(graph, s, f, leaving=True)
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    cok = np.flatnonzero(cs.ok)
    if len(cok) and len(pok):
        # every node within the limit of each candidate (node -> candidate): one bounded search each
        src, node, tt = within(graph, cs, limit_s=limit_s, direction="to")
        near = sp.csc_matrix((tt + 1.0, (src, node)), shape=(len(candidates), graph.n_nodes))  # +1: keep zeros
        for end, ok, part in ((v, v_ok, leg + (1.0 - f) * t), (u, u_ok, leg + f * t)):
            sel = np.flatnonzero(ok)
            reach = near[:, end[sel]].tocoo()  # candidates x points through this end of the point's street
            keep = reach.data - 1.0 + part[sel][reach.col] <= limit_s
            rows.append(reach.row[keep].astype(np.int64))
            cols.append(pok[sel[reach.col[keep]]])
    # along the same street, without passing a node
    if len(cok) and len(pok):
        order = np.argsort(s, kind="stable")
        s_sorted = s[order]
        for j in cok:
            cst, cf = cs.street[j], cs.fraction[j]
            a, b = np.searchsorted(s_sorted, [cst, cst + 1])
            if a == b:
                continue
            k = order[a:b]
            tt = graph.street_travel_s[cst]
            legs = leg[k] + float(access_s(graph, cs.distance_m[j]))
            ahead = (f[k] <= cf) & graph.street_forward[cst] & ((cf - f[k]) * tt + legs <= limit_s)
            behind = (f[k] >= cf) & graph.street_backward[cst] & ((f[k] - cf) * tt + legs <= limit_s)
            hit = k[ahead | behind]
            rows.append(np.full(len(hit), j))
            cols.append(pok[hit])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    mat = sp.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(len(candidates), len(lon)))
    mat.sum_duplicates()
    mat.data[:] = True
    return mat, cs.ok


def greedy_mclp(cover: sp.csr_matrix, weight: npt.ArrayLike, p: int) -> tuple[list[int], list[float]]:
    """Lazy greedy maximal covering: ``p`` rows of ``cover`` (candidates × clients) adding the most client
    ``weight`` each, in order. Returns the chosen rows and each one's marginal gain. A row is only picked
    while it adds something; ties go to the lower row index."""
    w = np.asarray(weight, float)
    cover = sp.csr_matrix(cover, dtype=bool)
    covered = np.zeros(cover.shape[1], dtype=bool)
    gains0 = cover.astype(float) @ w
    heap = [(-g, j) for j, g in enumerate(gains0.tolist()) if g > 0]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    ptr, idx = cover.indptr, cover.indices
    while heap and len(chosen) < p:
        _, j = heapq.heappop(heap)
        cols = idx[ptr[j]:ptr[j + 1]]
        g = float(w[cols[~covered[cols]]].sum())
        if g <= 0:
            continue
        if heap and g < -heap[0][0] - 1e-12:  # stale bound: re-queue with the fresh gain
            heapq.heappush(heap, (-g, j))
            continue
        chosen.append(j)
        gains.append(g)
        covered[cols] = True
    return chosen, gains


def exact_mclp(cover: sp.csr_matrix, weight: npt.ArrayLike, p: int, *, time_limit_s: float = 60.0
               ) -> tuple[list[int], float]:
    """Exact maximal covering by integer programming (PuLP + CBC): choose ``p`` rows of ``cover`` maximising
    the covered client ``weight``. Returns the chosen rows and the objective (covered weight)."""
    import warnings

    import pulp

    with warnings.catch_warnings():  # PuLP 3.x announces its 4.0 API; the model below works on both
        warnings.simplefilter("ignore", DeprecationWarning)
        return _exact_mclp(pulp, cover, weight, p, time_limit_s)


def _exact_mclp(pulp: Any, cover: sp.csr_matrix, weight: npt.ArrayLike, p: int, time_limit_s: float
                ) -> tuple[list[int], float]:
    w = np.asarray(weight, float)
    cover = sp.csc_matrix(cover, dtype=bool)
    n_cand, n_cli = cover.shape
    useful = np.flatnonzero((np.diff(cover.indptr) > 0) & (w > 0))
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(n_cand)]
    y = {i: pulp.LpVariable(f"y{i}", lowBound=0, upBound=1) for i in useful.tolist()}
    prob += pulp.lpSum(w[i] * y[i] for i in y)
    prob += pulp.lpSum(x) <= p
    for i in y:
        rows = cover.indices[cover.indptr[i]:cover.indptr[i + 1]]
        prob += y[i] <= pulp.lpSum(x[j] for j in rows.tolist())
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"CBC did not prove optimality: {pulp.LpStatus[status]}")
    chosen = [j for j in range(n_cand) if (x[j].value() or 0) > 0.5]
    covered = np.asarray(cover[chosen].sum(axis=0)).ravel() > 0 if chosen else np.zeros(n_cli, bool)
    return chosen, float(w[covered].sum())


SOLVER_LABELS = {"greedy": "逐个挑选", "exact": "整体最优"}


def solver_label(solver: str) -> str:
    """The solver in plain Chinese: 逐个挑选 (greedy: each time the place adding the most) or 整体最优
    (exact: the best set, proven by integer programming)."""
    return SOLVER_LABELS.get(solver, solver)


@dataclass
class SitePlan:
    """Proposals of one solver: ``table`` one row per new site (in greedy order of marginal gain) with
    ``rank``, ``site_id``, ``name``, ``address`` (its tags' address, else its nearest named streets:
    "国和路与政立路交叉口附近"; a cell centre is named by it), ``source`` (银行网点, 网格中心 …), ``lon`` /
    ``lat`` (WGS84), ``subdistrict`` (where it stands), ``serves`` (the 街道 of the demand it newly covers,
    most first), per layer ``<layer>_new`` and ``<layer>_share_after`` (cumulative covered share) and
    ``score_new`` (the demand it newly covers in resident equivalents, people).

    ``objective``: the demand all proposals newly cover, resident equivalents. ``weights``: the weighting
    used. ``notes``: Chinese."""

    solver: str
    minutes: float
    mode: str
    table: Any
    objective: float
    notes: list[str] = field(default_factory=list)
    weights: DemandWeights | None = None
    n_candidates: int = 0

    @property
    def label(self) -> str:
        return solver_label(self.solver)

    def to_geojson(self, *, crs: str = "wgs84") -> dict[str, Any]:
        import geopandas as gpd

        lon, lat = from_wgs84(self.table["lon"].to_numpy(float), self.table["lat"].to_numpy(float), dst=crs)
        gdf = gpd.GeoDataFrame(self.table.drop(columns=["lon", "lat"]), geometry=shapely.points(lon, lat),
                               crs="EPSG:4326" if crs == "wgs84" else None)
        fc = gdf.to_geo_dict(drop_id=True)
        fc["solver"] = self.solver
        return fc

    def site_ids(self) -> set[str]:
        return set(self.table["site_id"].tolist())


def compare_plans(greedy: SitePlan, exact: SitePlan) -> str:
    """The two solvers' answers compared in plain Chinese: the same places or not, and how much more the
    best set covers (in resident equivalents and as a share of it)."""
    a, b = greedy.site_ids(), exact.site_ids()
    if not len(greedy.table) and not len(exact.table):
        return "两种算法都没有找到能新增覆盖的地点。"
    if a == b:
        return (f"两种算法选出了同样的 {len(b)} 个地点："
                "逐个挑选的结果已经是整体最优，可以放心采用。")
    gap = exact.objective - greedy.objective
    share = greedy.objective / exact.objective if exact.objective > 0 else math.nan
    same = len(a & b)
    head = (f"两种算法选出的地点有 {same} 个相同、{len(b) - same} 个不同。" if same
            else "两种算法选出的地点完全不同。")
    if gap <= 1e-9 * max(1.0, exact.objective):
        return head + "两组地点新增覆盖的需求一样多，可按实际落地条件任选一组。"
    return (head + f"整体最优的一组多覆盖折合约 {_people(gap)} 人的需求；逐个挑选的一组达到它的 "
            f"{_share_text(share)}。建议采用整体最优的一组。")


def _people(x: float) -> str:
    return f"{x:,.0f}"


def _share_text(share: float) -> str:
    from geomap.planning.coverage import pct

    return pct(share)


def _client_weights(result: CoverageResult, weights: DemandWeights
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
                               npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Uncovered demand points of all layers: lon, lat, weight in resident equivalents, layer number, index
    in layer."""
    parts = []
    for li, (name, lay) in enumerate(result.demand.items()):
        unc = np.flatnonzero(~(result.demand_time_s[name] <= result.minutes * 60.0) & (lay.weight > 0))
        parts.append((lay.lon[unc], lay.lat[unc], lay.weight[unc] * weights.of(name), np.full(len(unc), li), unc))
    if not parts:
        z = np.zeros(0)
        return z, z, z, z.astype(np.int64), z.astype(np.int64)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))  # type: ignore[return-value]


def propose_sites(graph: StreetGraph, stations: Stations, result: CoverageResult, candidates: Candidates, *,
                  p: int, solver: str = "greedy", subdistricts: Any = None, weights: DemandWeights | None = None,
                  namer: StreetNamer | None = None, max_snap_m: float | None = None,
                  time_limit_s: float = 60.0) -> SitePlan:
    """Choose ``p`` new sites among ``candidates`` adding the most uncovered demand within
    ``result.minutes`` on ``graph`` (``result``: the coverage of the existing ``stations``).

    ``solver``: ``"greedy"`` (lazy greedy) or ``"exact"`` (MILP, CBC; refused with ``ValueError`` when
    candidates × uncovered clients exceeds ``settings.exact_max_pairs``). ``weights``: resident equivalents
    per unit of each layer (default :func:`geomap.planning.weights.demand_weights`). ``namer``: names the
    proposals by their nearest named streets (None: addresses only from the candidates' own). No candidate,
    or none that adds anything, gives an empty table and a note saying so.
    """
    import pandas as pd

    if p < 1:
        raise ValueError("p must be at least 1")
    if solver not in ("greedy", "exact"):
        raise ValueError("solver must be 'greedy' or 'exact'")
    weights = weights or demand_weights(result.demand)
    lon, lat, score, layer_no, in_layer = _client_weights(result, weights)
    notes: list[str] = []
    names = list(result.demand)
    columns = ["rank", "site_id", "name", "address", "source", "lon", "lat", "subdistrict", "score_new",
               *[f"{n}_{c}" for n in names for c in ("new", "share_after")], "serves"]

    def empty(note: str) -> SitePlan:
        return SitePlan(solver=solver, minutes=result.minutes, mode=result.mode,
                        table=pd.DataFrame([], columns=columns), objective=0.0, notes=[*notes, note],
                        weights=weights, n_candidates=len(candidates))

    if not len(candidates):
        return empty("没有候选地点：研究范围内没有符合条件的场所，也没有给出网格或候选点文件")
    if not len(lon):
        return empty(f"现有站点在{mode_words(result)}已覆盖全部需求，不需要新增站点")
    if solver == "exact" and len(candidates) * max(len(lon), 1) > get_settings().exact_max_pairs:
        raise ValueError(f"整体最优解（exact）规模太大：{len(candidates):,} 个候选地点 × {len(lon):,} 个未覆盖需求点 "
                         f"超过 exact_max_pairs（{get_settings().exact_max_pairs:,}）；请用逐个挑选（greedy）")
    cover, cand_ok = candidate_cover(graph, candidates, lon, lat, minutes=result.minutes, max_snap_m=max_snap_m)
    if (~cand_ok).any():
        notes.append(f"{int((~cand_ok).sum())} 个候选地点离道路太远，未参与选址")
    if solver == "greedy":
        chosen, _ = greedy_mclp(cover, score, p)
    else:
        picked, _ = exact_mclp(cover, score, p, time_limit_s=time_limit_s)
        picked = [j for j in picked if cover.indptr[j + 1] > cover.indptr[j]]  # a free pick that adds nothing
        # report the exact set in the greedy order of marginal gain within it
        order, _ = greedy_mclp(cover[picked], score, len(picked))
        chosen = [picked[i] for i in order] + [picked[i] for i in range(len(picked)) if i not in order]
    if not chosen:
        return empty(f"{len(candidates)} 个候选地点都不能在{result.minutes:g}分钟内新增覆盖任何需求")
    if len(chosen) < p:
        notes.append(f"只有 {len(chosen)} 个候选地点能新增覆盖需求（要求 {p} 个）")
    covered_now = {n: float(result.demand[n].weight[result.demand_time_s[n] <= result.minutes * 60].sum())
                   for n in names}
    newly = np.zeros(len(lon), dtype=bool)
    rows = []
    site_sd = assign_subdistrict(subdistricts, candidates.lon[chosen], candidates.lat[chosen]) if (
        subdistricts is not None and chosen) else [None] * len(chosen)
    told = (namer.describe(candidates.lon[chosen], candidates.lat[chosen]) if namer is not None
            else [None] * len(chosen))
    objective = 0.0
    for rank, j in enumerate(chosen):
        cols = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        new = cols[~newly[cols]]
        newly[new] = True
        objective += float(score[new].sum())
        address = candidates.address[j] or told[rank]
        name = candidates.names[j]
        if candidates.source[j] == H3_SOURCE:  # a cell centre is named by where it is
            name = address or (f"{site_sd[rank]}内网格中心" if site_sd[rank] else f"网格中心 {rank + 1}")
        row: dict[str, Any] = {
            "rank": rank + 1, "site_id": candidates.ids[j], "name": name, "address": address,
            "source": candidates.source[j], "lon": float(candidates.lon[j]), "lat": float(candidates.lat[j]),
            "subdistrict": site_sd[rank], "score_new": float(score[new].sum()),
        }
        serves: dict[str, float] = {}
        for li, n in enumerate(names):
            lay = result.demand[n]
            mine = new[layer_no[new] == li]
            amount = float(lay.weight[in_layer[mine]].sum())
            covered_now[n] += amount
            row[f"{n}_new"] = amount
            row[f"{n}_share_after"] = covered_now[n] / lay.total if lay.total > 0 else np.nan
            for sd, wgt in zip(lay.subdistrict[in_layer[mine]], score[mine], strict=True):
                if sd is not None:
                    serves[sd] = serves.get(sd, 0.0) + float(wgt)
        row["serves"] = "、".join(k for k, _ in sorted(serves.items(), key=lambda kv: -kv[1]))
        rows.append(row)
    return SitePlan(solver=solver, minutes=result.minutes, mode=result.mode,
                    table=pd.DataFrame(rows, columns=columns), objective=objective, notes=notes, weights=weights,
                    n_candidates=len(candidates))


def mode_words(result: CoverageResult) -> str:
    """"步行15分钟内" for a coverage result: its mode and minutes in Chinese."""
    from geomap.planning.coverage import mode_label

    return f"{mode_label(result.mode)}{result.minutes:g}分钟内"
