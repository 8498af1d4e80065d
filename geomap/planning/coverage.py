"""15-minute coverage (15分钟服务圈覆盖): who and what lies within T minutes of a station, per 街道.

Travel direction: from the place (a resident's home, a restaurant, a point of a street) *to* the station,
one-way streets honoured, as a rider would ride. One multi-source Dijkstra on the reversed graph
(:func:`time_field`: scipy ``min_only``, cached per station set) gives every network node its travel
time to the nearest station; then, all array-at-a-time:

- a demand point is snapped onto its street and its time is the best of leaving through either street
  end or riding along the street to a station on it — exactly the network-nearest answer;
- a street point at fraction ``x`` is covered when ``(1-x)·t + T(v) <= T`` (riding toward v, where
  allowed), ``x·t + T(u) <= T`` (toward u) or a station on the same street is within reach along it;
  the covered length of each street is the measure of the union of those intervals;
- the covered area is the union of the covered street pieces buffered by the street half-width (the same
  buffered-street tree as the service circles of :mod:`geomap.network.isochrones`), small holes filled.

A street belongs to the 街道 holding its midpoint; demand points to the 街道 they lie in. Points farther
than ``max_snap_m`` from every street are counted as not covered (``off_network``).

All coordinates WGS84 lon/lat degrees; times seconds (``*_s``) or minutes; lengths metres / km.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geomap.network.graph import StreetGraph, _ranges
from geomap.network.isochrones import DEFAULT_BUFFER_M, _buffer_tree, area_of_pieces, end_pieces, to_wgs84
from geomap.network.routing import Snapped, access_s, end_access, snap_points
from geomap.planning.demand import DemandLayer
from geomap.planning.subdistricts import assign_subdistrict
from geomap.planning.weights import DemandWeights, demand_weights
from geomap.settings import get_settings

__all__ = ["TOTAL_ROW", "CoverageResult", "Stations", "TimeField", "coverage", "coverage_of_points",
           "covered_street_pieces", "filter_stations", "gap_grid", "mode_label", "pct", "point_times", "time_field"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Stations:
    """A station set for coverage: WGS84 lon/lat degrees and ids."""

    lon: FloatArray
    lat: FloatArray
    ids: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.lon)


def filter_stations(index: Any, *, kind: str | list[str] | None = None, amenity: str | list[str] | None = None,
                    open_at: datetime | None = None) -> Stations:
    """The stations of a :class:`~geomap.stations.index.StationIndex` matching kind / amenity / open-at
    filters (keys or Chinese aliases; ``open_at`` in Asia/Shanghai time by default settings)."""
    from geomap.stations.index import StationFilter

    flt = StationFilter.make(kind=kind, amenity=amenity, open_at=open_at)
    slots = np.flatnonzero(index.mask(flt, tz=get_settings().timezone))
    return Stations(lon=np.asarray(index.lon, float)[slots], lat=np.asarray(index.lat, float)[slots],
                    ids=np.asarray(index.ids, dtype=object)[slots])


def mode_label(mode: str) -> str:
    """Chinese label of a travel mode (from ``vocab/modes.toml``)."""
    from geomap.network.graph import load_profiles

    prof = load_profiles().get(mode)
    return getattr(prof, "label", mode) if prof is not None else mode


@dataclass
class TimeField:
    """Every node's travel time (s) to its nearest station along a graph, and which station that is.

    ``node_time_s`` (inf: none reachable), ``node_station`` (position in the station set, -1: none),
    ``snap``: the stations' snapped positions (``ok`` False: farther than ``max_snap_m`` from a street).
    """

    node_time_s: FloatArray
    node_station: IntArray
    snap: Snapped


def time_field(graph: StreetGraph, stations: Stations, *, max_snap_m: float | None = None) -> TimeField:
    """The :class:`TimeField` of a station set: every node's time to its nearest station, from the
    station set's labels (:func:`geomap.network.nearest.station_labels`, k = 1: one bounded search,
    cached per set and derived from a cached set after a few edits)."""
    from geomap.network.nearest import station_labels

    sl = station_labels(graph, station_lon=stations.lon, station_lat=stations.lat, station_ids=stations.ids, k=1,
                        max_snap_m=max_snap_m)
    slot = sl.labels.node_station()
    node_station = np.where(slot >= 0, sl.position[np.maximum(slot, 0)], -1) if sl.labels.n_slots else slot
    return TimeField(node_time_s=sl.labels.node_time_s(), node_station=node_station, snap=sl.snapped)


def point_times(graph: StreetGraph, field_: TimeField, snapped: Snapped) -> tuple[FloatArray, IntArray]:
    """Time (s) from each snapped point to its nearest station and that station's position (-1: none).

    The point's access leg to its street, then leaving through either end of the street (where its
    direction allows) and the node's time (the station's access leg included), or riding along the street
    to a station on the same street and its access leg — the exact network-nearest answer, whole trips.
    """
    n_pts = len(snapped)
    best = np.full(n_pts, np.inf)
    who = np.full(n_pts, -1, dtype=np.int64)
    ok = np.flatnonzero(snapped.ok)
    if not len(ok):
        return best, who
    s = snapped.street[ok]
    f = snapped.fraction[ok]
    leg = access_s(graph, snapped.distance_m[ok])
    t = graph.street_travel_s[s]
    u, v = graph.street_u[s], graph.street_v[s]
    v_ok, u_ok = end_access(graph, s, f, leaving=True)
    tv = np.where(v_ok, leg + (1.0 - f) * t + field_.node_time_s[v], np.inf)
    tu = np.where(u_ok, leg + f * t + field_.node_time_s[u], np.inf)
    use_v = tv <= tu
    best[ok] = np.where(use_v, tv, tu)
    who[ok] = np.where(use_v, field_.node_station[v], field_.node_station[u])
    who[ok[~np.isfinite(best[ok])]] = -1
    # stations on the point's own street, reached along it without passing a node
    st_ok = np.flatnonzero(field_.snap.ok)
    if len(st_ok):
        order = st_ok[np.argsort(field_.snap.street[st_ok], kind="stable")]
        st_street = field_.snap.street[order]
        lo = np.searchsorted(st_street, s, side="left")
        cnt = np.searchsorted(st_street, s, side="right") - lo
        has = np.flatnonzero(cnt > 0)
        if len(has):
            pair_st = order[_ranges(lo[has], cnt[has])]
            pair_pt = np.repeat(has, cnt[has])
            fs = field_.snap.fraction[pair_st]
            fp = f[pair_pt]
            sp_ = s[pair_pt]
            ahead = fs >= fp
            allowed = np.where(ahead, graph.street_forward[sp_], graph.street_backward[sp_])
            legs = leg[pair_pt] + access_s(graph, field_.snap.distance_m[pair_st])
            direct = np.where(allowed, np.abs(fs - fp) * graph.street_travel_s[sp_] + legs, np.inf)
            tgt = ok[pair_pt]
            prev = best.copy()
            np.minimum.at(best, tgt, direct)  # several stations on one street: the quickest wins
            win = (direct == best[tgt]) & (direct < prev[tgt])
            who[tgt[win]] = pair_st[win]
    return best, who


def coverage_of_points(graph: StreetGraph, stations: Stations, lon: npt.ArrayLike, lat: npt.ArrayLike,
                       *, max_snap_m: float | None = None) -> tuple[FloatArray, npt.NDArray[np.object_]]:
    """Travel time (s) from each WGS84 point to its nearest station along ``graph``, and that station's id.

    ``inf`` / None for points off the network (farther than ``max_snap_m`` from a street) or that reach
    no station. Stations snap with the same ``max_snap_m``.
    """
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if len(lon) == 0:
        return np.zeros(0), np.zeros(0, dtype=object)
    if len(stations) == 0:
        return np.full(len(lon), np.inf), np.full(len(lon), None, dtype=object)
    field_ = time_field(graph, stations, max_snap_m=max_snap_m)
    snapped = snap_points(graph, lon, lat, max_snap_m=max_snap_m, errors="ignore")
    t, pos = point_times(graph, field_, snapped)
    sid = np.full(len(lon), None, dtype=object)
    sid[pos >= 0] = stations.ids[pos[pos >= 0]]
    return t, sid


def covered_street_pieces(graph: StreetGraph, node_time_s: FloatArray, station_snap: Snapped, limit_s: float
                          ) -> tuple[IntArray, FloatArray, FloatArray]:
    """Street pieces ``(street, f_lo, f_hi)`` (fractions from ``street_u``) whose points reach a station
    within ``limit_s`` seconds, given every node's time to its nearest station (s)."""
    t = graph.street_travel_s
    fw, bw = graph.street_forward, graph.street_backward
    street0, lo0, hi0 = end_pieces(graph, node_time_s, limit_s, direction="to")
    streets, lo, hi = [street0], [lo0], [hi0]
    ok = np.flatnonzero(station_snap.ok)
    if len(ok):  # along the street to a station on it: before it riding forward, after it riding backward
        s = station_snap.street[ok]
        f = station_snap.fraction[ok]
        left = limit_s - access_s(graph, station_snap.distance_m[ok])  # after the station's access leg
        span = np.where(t[s] > 0, left / np.where(t[s] > 0, t[s], 1.0), 1.0)
        a = fw[s] & (left >= 0)
        b = bw[s] & (left >= 0)
        streets += [s[a], s[b]]
        lo += [np.clip(f[a] - span[a], 0.0, 1.0), f[b]]
        hi += [f[a], np.clip(f[b] + span[b], 0.0, 1.0)]
    return np.concatenate(streets), np.concatenate(lo), np.concatenate(hi)


def _union_fraction(n_streets: int, street: IntArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Per street, the measure (fraction of its length) of the union of intervals ``[lo, hi]``."""
    out = np.zeros(n_streets)
    if not len(street):
        return out
    order = np.lexsort((lo, street))
    s, a, b = street[order], lo[order], hi[order]
    # running max of hi within each street: offset every street by 2 so groups never interact
    run = np.maximum.accumulate(b + 2.0 * s) - 2.0 * s
    prev = np.empty_like(run)
    prev[0] = -1.0
    prev[1:] = run[:-1]
    prev[np.r_[True, s[1:] != s[:-1]]] = -1.0
    gain = np.clip(b - np.maximum(a, prev), 0.0, None)
    np.add.at(out, s, gain)
    return np.clip(out, 0.0, 1.0)


@dataclass
class CoverageResult:
    """Coverage of a station set within ``minutes`` by ``mode``.

    ``table``: one row per 街道 plus ``合计`` (total): street km and covered share, and for each demand
    layer its total, covered amount and share (columns ``<layer>``, ``<layer>_covered``,
    ``<layer>_share``), covered area km². ``node_time_s``: every node's time to its nearest station.
    ``demand_time_s``: per layer, every point's time (s). ``covered_area``: WGS84 (Multi)Polygon or None.
    """

    minutes: float
    mode: str
    n_stations: int
    table: Any
    node_time_s: FloatArray
    demand: dict[str, DemandLayer]
    demand_time_s: dict[str, FloatArray]
    covered_area: shapely.Geometry | None
    street_covered_fraction: FloatArray
    notes: list[str] = field(default_factory=list)
    stations_zh: str = "站点"
    stations_en: str = "a station"
    place: str = ""
    """The place's name (from its workspace), at the head of the summary."""
    absent: dict[str, str] = field(default_factory=dict)
    """Demand layers not measured for lack of data: Chinese label -> why (said in the summary)."""

    def missing(self, layer: str) -> dict[str, str]:
        """The 街道 ``layer`` holds no figure for (name -> why, Chinese): their rows show it as not measured, and
        its total and share are over the other 街道 only."""
        return dict(self.demand[layer].missing)

    def share(self, layer: str) -> float:
        """Covered share (0–1) of a demand layer's total weight; NaN when the layer weighs nothing (not
        measured, never 0 %)."""
        w = self.demand[layer].weight
        total = w.sum()
        return float(w[self.demand_time_s[layer] <= self.minutes * 60].sum() / total) if total > 0 else math.nan

    def street_share(self) -> float:
        """Covered share (0–1) of the street length of the whole table (NaN without streets)."""
        total = self.table[self.table["subdistrict"] == TOTAL_ROW]
        return float(total["street_share"].iloc[0]) if len(total) else math.nan

    def summary(self, *, lang: str = "zh") -> str:
        """The total line, e.g. "杨浦区：常住人口的 62.1%（不含没有常住人口数字的曲阳路街道）和餐饮取餐点的
        80.0% 在电动自行车15分钟内可到达站点", followed by what was not measured and why
        (未计算常住人口（没有人口普查数据）). A share is over the 街道 the layer has figures for, and says which
        it leaves out."""
        m = f"{self.minutes:g}"
        if lang == "zh":
            parts = [f"{lay.label_zh}的 {_pct(self.share(k))}"
                     + (f"（不含没有{lay.label_zh}数字的{'、'.join(lay.missing)}）" if lay.missing else "")
                     for k, lay in self.demand.items()]
            joined = "、".join(parts[:-1])
            joiner = ("" if not joined else "和" if joined.endswith("）") else " 和")
            who = (joined + joiner + parts[-1] if parts else f"街道路网的 {_pct(self.street_share())}")
            head = f"{self.place}：" if self.place else ""
            tail = ("。未计算" + "、".join(f"{label}（{why}）" for label, why in self.absent.items())
                    if self.absent else "")
            return (f"{head}{who} 在{mode_label(self.mode)}{m}分钟内可到达{self.stations_zh}"
                    f"（共 {self.n_stations} 个）{tail}")
        parts = [f"{_pct(self.share(k), missing='no data')} of {k}"
                 + (f" (leaving out {', '.join(lay.missing)}: no figures)" if lay.missing else "")
                 for k, lay in self.demand.items()]
        who = (", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts
               else f"{_pct(self.street_share(), missing='no data')} of the street length")
        head = f"{self.place}: " if self.place else ""
        return (f"{head}{who} are within {m} minutes by {self.mode} of {self.stations_en} "
                f"({self.n_stations} stations)")

    def layers_geojson(self) -> dict[str, dict[str, Any]]:
        """GeoJSON FeatureCollections (WGS84): ``covered_area`` and one point layer per demand layer with
        ``travel_min`` and ``covered`` per point."""
        import geopandas as gpd

        out: dict[str, dict[str, Any]] = {}
        geom = [] if self.covered_area is None else [self.covered_area]
        out["covered_area"] = gpd.GeoDataFrame({"minutes": [self.minutes] * len(geom), "mode": self.mode},
                                               geometry=geom, crs="EPSG:4326").to_geo_dict(drop_id=True)
        for name, lay in self.demand.items():
            t = self.demand_time_s[name]
            gdf = lay.to_frame()
            gdf["travel_min"] = np.where(np.isfinite(t), np.round(t / 60.0, 2), None)
            gdf["covered"] = t <= self.minutes * 60
            out[name] = gdf.to_geo_dict(drop_id=True)
        return out


TOTAL_ROW = "合计"
"""The ``subdistrict`` of the coverage table's last row: the whole study area."""


def _pct(share: float, *, missing: str = "无数据") -> str:
    """A share as people write it ("62.1%"), or ``missing`` when it was not measured (NaN). A share that is
    not all or nothing never reads as 100.0% or 0.0% (">99.9%", "<0.1%")."""
    return pct(share, missing=missing)


def pct(share: float, *, missing: str = "无数据", digits: int = 1) -> str:
    """A share (0–1) as a percentage with ``digits`` decimals ("62.1%"); ``missing`` for NaN (not measured);
    ">99.9%" / "<0.1%" for shares that round to all or nothing without being so."""
    if not math.isfinite(share):
        return missing
    text = f"{100 * share:.{digits}f}%"
    step = 10.0 ** -digits
    if share < 1 and text == f"{100:.{digits}f}%":
        return f">{100 - step:.{digits}f}%"
    if share > 0 and text == f"{0:.{digits}f}%":
        return f"<{step:.{digits}f}%"
    return text


def street_midpoints(graph: StreetGraph) -> tuple[FloatArray, FloatArray]:
    """WGS84 lon/lat of the midpoint between each street's two end nodes (degrees)."""
    return ((graph.node_lon[graph.street_u] + graph.node_lon[graph.street_v]) / 2.0,
            (graph.node_lat[graph.street_u] + graph.node_lat[graph.street_v]) / 2.0)


def coverage(graph: StreetGraph, stations: Stations, *, minutes: float | None = None,
             demand: Sequence[DemandLayer] = (), subdistricts: Any = None, with_area: bool = True,
             max_snap_m: float | None = None) -> CoverageResult:
    """Coverage of ``stations`` within ``minutes`` (default ``settings.default_minutes``) along ``graph``.

    ``demand``: demand layers (residents, restaurants, user points); ``subdistricts``: GeoDataFrame of 街道
    polygons (``name``) for the per-街道 rows, or None for the total only. ``with_area=False`` skips the
    covered-area polygon (the costliest part on very large graphs).
    """
    import pandas as pd

    settings = get_settings()
    minutes = float(settings.default_minutes if minutes is None else minutes)
    if not (0 < minutes <= 24 * 60):
        raise ValueError("minutes must be in (0, 1440]")
    limit_s = minutes * 60.0
    notes: list[str] = []
    if len(stations):
        field_ = time_field(graph, stations, max_snap_m=max_snap_m)
        node_time, st_snap = field_.node_time_s, field_.snap
        far = int((~st_snap.ok).sum())
        if far:
            limit_m = settings.max_snap_m if max_snap_m is None else max_snap_m
            notes.append(f"{far} 个站点离所有道路都超过 {limit_m:g} 米（max_snap_m），未计入")
    else:
        node_time = np.full(graph.n_nodes, np.inf)
        st_snap = snap_points(graph, np.zeros(0), np.zeros(0), errors="ignore")
        notes.append("没有符合筛选条件的站点")
    street, lo, hi = covered_street_pieces(graph, node_time, st_snap, limit_s)
    frac = _union_fraction(graph.n_streets, street, lo, hi)
    length_km = graph.street_length_m / 1000.0
    mid_lon, mid_lat = street_midpoints(graph)
    names: list[str] = []
    if subdistricts is not None and len(subdistricts):
        names = list(subdistricts["name"].values)
        street_sd = assign_subdistrict(subdistricts, mid_lon, mid_lat)
    else:
        street_sd = np.full(graph.n_streets, None, dtype=object)

    demand_time: dict[str, FloatArray] = {}
    layers = {lay.name: lay for lay in demand}
    for name, lay in layers.items():
        t, _ = coverage_of_points(graph, stations, lay.lon, lay.lat, max_snap_m=max_snap_m)
        demand_time[name] = t
        off = int(np.isinf(t).sum())
        if off:
            notes.append(f"{lay.label_zh}：{len(t)} 个点中有 {off} 个到不了任何站点（离路网太远或路网不通）")

    covered_area = None
    area_by_sd: dict[str, float] = {}
    total_area_km2 = np.nan
    if with_area:
        # zero-length pieces stay: they stand for nodes reached with no time left (a disc each)
        poly_m = area_of_pieces(graph, street, lo, hi)
        total_area_km2 = float(shapely.area(poly_m)) / 1e6
        covered_area = to_wgs84(graph, poly_m)
        if names:
            to_xy = _buffer_tree(graph, float(getattr(settings, "isochrone_buffer_m", DEFAULT_BUFFER_M)), 4).to_xy
            sd_m = shapely.transform(subdistricts.geometry.values,
                                     lambda xy: np.column_stack(to_xy.transform(xy[:, 0], xy[:, 1])))
            areas = shapely.area(shapely.intersection(sd_m, poly_m)) / 1e6
            area_by_sd = dict(zip(names, areas.tolist(), strict=True))

    rows = []
    for sd in [*names, None]:
        sel = (street_sd == sd) if sd is not None else np.ones(graph.n_streets, dtype=bool)
        row: dict[str, Any] = {"subdistrict": sd if sd is not None else TOTAL_ROW}
        row["street_km"] = float(length_km[sel].sum())
        row["street_covered_km"] = float((length_km * frac)[sel].sum())
        row["street_share"] = row["street_covered_km"] / row["street_km"] if row["street_km"] > 0 else np.nan
        for name, lay in layers.items():
            if sd is not None and sd in lay.missing:  # no figure for this 街道: not measured, never 0
                row[name] = row[f"{name}_covered"] = row[f"{name}_share"] = np.nan
                continue
            pm = (lay.subdistrict == sd) if sd is not None else np.ones(len(lay), dtype=bool)
            tot = float(lay.weight[pm].sum())
            cov = float(lay.weight[pm & (demand_time[name] <= limit_s)].sum())
            row[name] = tot
            row[f"{name}_covered"] = cov
            row[f"{name}_share"] = cov / tot if tot > 0 else np.nan
        if with_area:
            row["covered_area_km2"] = area_by_sd.get(sd, np.nan) if sd is not None else total_area_km2
        rows.append(row)
    return CoverageResult(
        minutes=minutes, mode=graph.mode, n_stations=len(stations), table=pd.DataFrame(rows),
        node_time_s=node_time, demand=layers, demand_time_s=demand_time, covered_area=covered_area,
        street_covered_fraction=frac, notes=notes,
    )


def gap_grid(result: CoverageResult, graph: StreetGraph, stations: Stations, study_area: shapely.Geometry, *,
             resolution: int | None = None, subdistricts: Any = None, weights: DemandWeights | None = None,
             max_snap_m: float | None = None) -> Any:
    """H3 gap grid over ``study_area`` (WGS84 polygon): one cell per H3 cell whose centre lies inside.

    Columns: ``h3``, ``subdistrict``, ``travel_min`` (from the cell centre to the nearest station; NaN when
    the centre is off the network or reaches none), ``covered`` (``travel_min <= minutes``), one column
    per demand layer (its weight inside the cell), ``demand`` (the cell's demand in resident equivalents,
    people: each layer's amount times its weight, :mod:`geomap.planning.weights`; default: a resident 1, a
    pickup point ``settings.pickup_weight``), ``unmeasured`` (labels of the layers with no figure for the
    cell's 街道, "、"-joined, "" when all are measured: the cell's amount of them is at best partial),
    ``gap_rank`` (1 = the uncovered cell with the most demand; NaN for covered cells) and the cell polygon
    (EPSG:4326).
    """
    import geopandas as gpd
    import h3

    resolution = int(get_settings().h3_resolution if resolution is None else resolution)
    cells = np.array(sorted(h3.geo_to_cells(shapely.geometry.mapping(study_area), resolution)), dtype=object)
    centre = np.array([h3.cell_to_latlng(c) for c in cells]).reshape(-1, 2)
    t, _ = coverage_of_points(graph, stations, centre[:, 1], centre[:, 0], max_snap_m=max_snap_m)
    pos = {c: i for i, c in enumerate(cells)}
    data: dict[str, Any] = {"h3": cells}
    data["subdistrict"] = (assign_subdistrict(subdistricts, centre[:, 1], centre[:, 0]) if subdistricts is not None
                           else np.full(len(cells), None, dtype=object))
    data["travel_min"] = np.where(np.isfinite(t), t / 60.0, np.nan)
    data["covered"] = t <= result.minutes * 60.0
    score = np.zeros(len(cells))
    weights = weights or demand_weights(result.demand)
    unmeasured = [[] for _ in range(len(cells))]
    for name, lay in result.demand.items():
        amount = np.zeros(len(cells))
        if len(lay):
            idx = np.array([pos.get(h3.latlng_to_cell(la, lo, resolution), -1) for lo, la in
                            zip(lay.lon.tolist(), lay.lat.tolist(), strict=True)])
            inside = idx >= 0
            np.add.at(amount, idx[inside], lay.weight[inside])
        data[name] = amount
        score += weights.of(name) * amount
        for i in np.flatnonzero(np.isin(data["subdistrict"], list(lay.missing))):
            unmeasured[i].append(lay.label_zh)
    data["demand"] = score
    data["unmeasured"] = np.array(["、".join(u) for u in unmeasured], dtype=object)
    rank = np.full(len(cells), np.nan)
    unc = np.flatnonzero(~data["covered"] & (data["demand"] > 0))
    order = unc[np.argsort(-data["demand"][unc], kind="stable")]
    rank[order] = np.arange(1, len(order) + 1)
    import pandas as pd

    data["gap_rank"] = pd.array(np.where(np.isfinite(rank), rank, np.nan), dtype="Int64")
    polys = [shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(c)]) for c in cells]
    return gpd.GeoDataFrame(data, geometry=polys, crs="EPSG:4326")
