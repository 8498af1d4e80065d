"""A planning study: everything coverage and site proposals need, read once.

A :class:`Study` holds the study area (WGS84 polygon), the 街道 polygons with census residents, the demand
layers (residents, restaurants / pickup points, user files) and the OSM features (for candidate sites),
and asks for each mode's street graph on demand (``graph``: usually :meth:`geomap.workspace.Workspace.graph`).

Every input is explicit (a workspace passes its own: :meth:`geomap.workspace.Workspace.study`); nothing is
taken from another place. The study area is a user boundary file, else the convex hull of the walking
network's nodes; 街道 come from a user file, else from the extract
(:func:`geomap.planning.subdistricts.subdistricts_from_osm`); residents from the census file when one is
given. A layer without data is absent, and :attr:`Study.absent` says why (in Chinese), so no output shows
a share of nothing as 0 %.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geomap.coords import to_wgs84
from geomap.network.graph import StreetGraph
from geomap.planning import demand as demand_mod
from geomap.planning import subdistricts as sd_mod
from geomap.planning._osm_features import OsmFeatures, read_osm_features
from geomap.planning.coverage import (
    CoverageResult,
    Stations,
    coverage,
    filter_stations,
    gap_grid,
    street_midpoints,
)
from geomap.planning.naming import StreetNamer, street_namer
from geomap.planning.siting import Candidates, SitePlan, file_candidates, h3_candidates, osm_candidates, propose_sites
from geomap.planning.weights import DemandWeights, demand_weights
from geomap.settings import Settings, get_settings, settings_in_force

__all__ = ["Study", "load_study", "read_area"]


@dataclass
class Study:
    """Inputs of a planning study (WGS84 throughout)."""

    osm_path: Path | None
    study_area: shapely.Geometry
    subdistricts: Any  # GeoDataFrame: name, source, population, population_here, area_km2, geometry
    demand: list[demand_mod.DemandLayer]
    features: OsmFeatures | None
    notes: list[str] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)
    """Demand layers the place has no data for: Chinese label -> why (e.g. 常住人口 -> 没有人口普查数据)."""
    place: str = ""
    census: dict[str, Any] = field(default_factory=dict)
    """The census file read, for the report's sources: ``file`` (its name), ``year`` (from a
    ``population_census<YEAR>`` column; None when the file does not say)."""
    graph_source: Callable[[str], StreetGraph] | None = field(default=None, repr=False)
    settings: Settings | None = field(default=None, repr=False)
    _graphs: dict[str, StreetGraph] = field(default_factory=dict, repr=False)
    _namer: StreetNamer | None = field(default=None, repr=False)

    def graph(self, mode: str) -> StreetGraph:
        """The street graph of ``mode`` (from :attr:`graph_source`, kept once asked for)."""
        if mode not in self._graphs:
            if self.graph_source is None:
                raise ValueError(f"this study has no street graph for {mode!r} and no graph source")
            self._graphs[mode] = self.graph_source(mode)
        return self._graphs[mode]

    def _in_force(self) -> Any:
        return settings_in_force(self.settings) if self.settings is not None else contextlib.nullcontext()

    def namer(self) -> StreetNamer | None:
        """Names places by their nearest named streets (:mod:`geomap.planning.naming`) on the walking network
        (every road a person can stand on, not motorways); None without an extract."""
        if self._namer is None and self.features is not None:
            self._namer = street_namer(self.graph("walk"), self.features.street_names)
        return self._namer

    def weights(self, *, pickup_weight: float | None = None, weights: dict[str, float] | None = None
                ) -> DemandWeights:
        """Resident equivalents per unit of each of this study's demand layers (:mod:`geomap.planning.weights`)."""
        with self._in_force():
            return demand_weights([lay.name for lay in self.demand], pickup_weight=pickup_weight, weights=weights)

    def layer(self, name: str) -> demand_mod.DemandLayer:
        for lay in self.demand:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def coverage(self, index: Any, *, minutes: float | None = None, mode: str | None = None, kind: Any = None,
                 amenity: Any = None, open_at: Any = None, with_area: bool = True) -> CoverageResult:
        """Coverage of a StationIndex's stations matching kind / amenity / open-at filters, by ``mode``
        (default ``settings.default_mode``) within ``minutes`` (default ``settings.default_minutes``)."""
        with self._in_force():
            mode = mode or get_settings().default_mode
            stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
            res = coverage(self.graph(mode), stations, minutes=minutes, demand=self.demand,
                           subdistricts=self.subdistricts, with_area=with_area)
        res.stations_zh, res.stations_en = _describe(kind, amenity, open_at)
        res.place, res.absent = self.place, dict(self.absent)
        return res

    def coverage_after(self, index: Any, plan: SitePlan, *, minutes: float | None = None, mode: str | None = None,
                       kind: Any = None, amenity: Any = None, open_at: Any = None,
                       with_area: bool = True) -> CoverageResult:
        """Coverage of the filtered stations with ``plan``'s proposed sites added as stations (ids
        ``site_id``): the "after" of a before/after; its shares equal the plan's cumulative ones."""
        import numpy as np

        with self._in_force():
            mode = mode or plan.mode
            base = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
            t = plan.table
            both = Stations(lon=np.concatenate([base.lon, t["lon"].to_numpy(float)]),
                            lat=np.concatenate([base.lat, t["lat"].to_numpy(float)]),
                            ids=np.concatenate([base.ids, t["site_id"].to_numpy(object)]))
            res = coverage(self.graph(mode), both, minutes=plan.minutes if minutes is None else minutes,
                           demand=self.demand, subdistricts=self.subdistricts, with_area=with_area)
        zh, en = _describe(kind, amenity, open_at)
        res.stations_zh, res.stations_en = f"{zh}（含新增 {len(t)} 处）", en
        res.place, res.absent = self.place, dict(self.absent)
        return res

    def gaps(self, index: Any, *, minutes: float | None = None, mode: str | None = None, kind: Any = None,
             amenity: Any = None, open_at: Any = None, resolution: int | None = None,
             result: CoverageResult | None = None, pickup_weight: float | None = None,
             weights: DemandWeights | None = None) -> Any:
        """The H3 gap grid (:func:`geomap.planning.coverage.gap_grid`) of the filtered stations over the study
        area; its ``demand`` in resident equivalents (``weights``, or a pickup point = ``pickup_weight``
        residents, default ``settings.pickup_weight``)."""
        if result is None:
            result = self.coverage(index, minutes=minutes, mode=mode, kind=kind, amenity=amenity,
                                   open_at=open_at, with_area=False)
        with self._in_force():
            stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
            return gap_grid(result, self.graph(result.mode), stations, self.study_area, resolution=resolution,
                            subdistricts=self.subdistricts,
                            weights=weights or self.weights(pickup_weight=pickup_weight))

    def candidates(self, *, sources: tuple[str, ...] = ("osm", "h3"), path: str | Path | None = None,
                   crs: str = "wgs84", resolution: int | None = None, kind: Any = None,
                   any_host: bool = False) -> Candidates:
        """Candidate sites: ``osm`` host places fitting a station of ``kind`` (None: a general station; every
        host place with ``any_host``: :func:`geomap.planning.siting.host_places`), ``h3`` cell centres,
        and/or a user file ``path`` in ``crs``."""
        parts = []
        if "osm" in sources and self.features is not None:
            parts.append(osm_candidates(self.features.pois, study_area=self.study_area, kinds=kind,
                                        any_host=any_host))
        if "h3" in sources:
            parts.append(h3_candidates(self.study_area, resolution=resolution))
        if path is not None:
            parts.append(file_candidates(path, crs=crs))
        if not parts:
            raise ValueError("no candidate sites: give sources ('osm', 'h3') or a candidates file")
        return Candidates.concat(parts)

    def plan(self, index: Any, *, p: int, minutes: float | None = None, mode: str | None = None,
             kind: Any = None, amenity: Any = None, open_at: Any = None, candidates: Candidates | None = None,
             solver: str = "greedy", result: CoverageResult | None = None, pickup_weight: float | None = None,
             weights: DemandWeights | None = None) -> SitePlan:
        """Propose ``p`` new sites (:func:`geomap.planning.siting.propose_sites`) keeping the filtered stations.

        ``candidates`` default: host places fitting ``kind`` and H3 cell centres (:meth:`candidates`).
        Demand in resident equivalents (``weights``, or a pickup point = ``pickup_weight`` residents). Each
        proposal is named by its nearest named streets."""
        if result is None:
            result = self.coverage(index, minutes=minutes, mode=mode, kind=kind, amenity=amenity,
                                   open_at=open_at, with_area=False)
        with self._in_force():
            stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
            cands = candidates if candidates is not None else self.candidates(kind=kind)
            return propose_sites(self.graph(result.mode), stations, result, cands, p=p, solver=solver,
                                 subdistricts=self.subdistricts, namer=self.namer(),
                                 weights=weights or self.weights(pickup_weight=pickup_weight))


def read_area(path: str | Path, *, crs: str = "wgs84") -> shapely.Geometry:
    """The union of the polygons of a boundary file, converted from ``crs`` to WGS84."""
    import geopandas as gpd

    gdf = gpd.read_file(path)
    geom = shapely.union_all(gdf.geometry.values)
    if shapely.get_type_id(geom) not in (3, 6):
        raise ValueError(f"{path}: a study area must be made of polygons")
    if crs != "wgs84":
        geom = shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], src=crs)))
    return geom


def _existing(path: str | Path | None, what: str) -> Path | None:
    """``path`` as a Path, or None; a path given but missing is an error naming it."""
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"找不到{what}文件：{p}")
    return p


def load_study(*, osm_path: str | Path | None, graph: Callable[[str], StreetGraph] | None = None,
               study_area: str | Path | shapely.Geometry | None = None, study_area_crs: str = "wgs84",
               subdistricts: str | Path | None = None, subdistricts_crs: str = "wgs84",
               population: str | Path | None = None, demand_files: list[dict[str, Any]] | None = None,
               restaurants: bool = True, residents: bool = True, place: str = "",
               settings: Settings | None = None) -> Study:
    """Assemble a :class:`Study` (a workspace does it with its own inputs: :meth:`geomap.workspace.Workspace.study`).

    ``osm_path``: the extract (buildings, POIs, 街道; None: a study without them). ``graph``: gives the street
    graph of a mode (default: built from ``osm_path`` with :func:`geomap.network.graph.build_network`).
    ``study_area``: a WGS84 polygon or a boundary file in ``study_area_crs``. ``subdistricts``: a 街道
    boundary file in ``subdistricts_crs``. ``population``: census CSV (None: no residents layer).
    ``demand_files``: dicts of :func:`geomap.planning.demand.points_layer` arguments (``path``, ``crs``,
    ``weight_column``, ``name``). ``place``: the place's name for the summaries. ``settings``: in force
    while the study computes (default: the settings in force). Every path given must exist
    (``FileNotFoundError`` naming it).
    """
    osm = _existing(osm_path, " OSM ")
    pop_path = _existing(population, "人口普查")
    sd_path = _existing(subdistricts, "街道边界")
    area_path = None if isinstance(study_area, shapely.Geometry) else _existing(study_area, "研究范围边界")
    for spec in demand_files or []:
        _existing(spec.get("path"), "需求点")
    if graph is None:
        if osm is None:
            raise ValueError("a study needs a street network: give osm_path or graph")
        from geomap.network.graph import build_network

        def graph(mode: str, _osm: Path = osm) -> StreetGraph:
            return build_network(_osm, modes=[mode], progress=False)[mode]

    with settings_in_force(settings) if settings is not None else contextlib.nullcontext():
        return _assemble(osm=osm, graph=graph, study_area=study_area, area_path=area_path,
                         study_area_crs=study_area_crs, sd_path=sd_path, subdistricts_crs=subdistricts_crs,
                         pop_path=pop_path, demand_files=demand_files, restaurants=restaurants,
                         residents=residents, place=place, settings=settings)


def _assemble(*, osm: Path | None, graph: Callable[[str], StreetGraph], study_area: Any, area_path: Path | None,
              study_area_crs: str, sd_path: Path | None, subdistricts_crs: str, pop_path: Path | None,
              demand_files: list[dict[str, Any]] | None, restaurants: bool, residents: bool, place: str,
              settings: Settings | None) -> Study:
    notes: list[str] = []
    absent: dict[str, str] = {}
    features = read_osm_features(osm) if osm is not None else None
    walk = graph("walk")
    if isinstance(study_area, shapely.Geometry):
        area = study_area
    elif area_path is not None:
        area = read_area(area_path, crs=study_area_crs)
        notes.append(f"研究范围：{area_path.name}（{study_area_crs}）")
    else:
        area = shapely.convex_hull(shapely.multipoints(np.column_stack([walk.node_lon, walk.node_lat])))
        notes.append("研究范围：路网数据覆盖的范围（未给出行政边界文件）")
    if sd_path is not None:
        sds = sd_mod.read_subdistricts(sd_path, crs=subdistricts_crs)
        sds = sds.assign(geometry=shapely.intersection(sds.geometry.values, area))
        sds = sds[~sds.geometry.is_empty].reset_index(drop=True)
    elif features is not None:
        sds = sd_mod.subdistricts_from_osm(features, area)
        if len(sds) and (sds["source"] == "osm-partial").all():
            notes.append("街道边界由路网数据中现有的边界线拼出（数据范围截断了街道关系）")
    else:
        sds = sd_mod._frame([], source="none")
    census: dict[str, Any] = {}
    if pop_path is not None:
        table = sd_mod.read_population(pop_path)
        census = {"file": pop_path.name, "year": table.attrs.get("census_year")}
        sds = sd_mod.attach_population(sds, table)
    else:
        sds = sds.assign(population=np.nan, official_area_km2=np.nan, population_here=np.nan)
    layers: list[demand_mod.DemandLayer] = []
    detail: dict[str, str] = {}
    if residents:
        if pop_path is None:
            absent["常住人口"] = "没有人口普查数据"
            detail["常住人口"] = "工作区的 geomap.toml 未设置 population_path"
        elif features is None:
            absent["常住人口"] = "没有 OSM 建筑数据，无法分布人口"
        elif not np.isfinite(sds["population_here"].to_numpy(dtype=float)).any():
            absent["常住人口"] = "人口普查表里没有本地任何街道的数字"
            detail["常住人口"] = f"{pop_path.name} 的街道名与本地街道对不上"
        else:
            streets = (*street_midpoints(walk), walk.street_length_m)
            lay = demand_mod.residents_layer(sds, features.buildings, street_points=streets)
            if lay.total > 0:
                layers.append(lay)
                notes.extend(lay.notes)
            else:
                absent["常住人口"] = "人口无法落到任何建筑或街道上"
    if restaurants:
        lay = demand_mod.pois_layer(features.pois, sds, study_area=area) if features is not None else None
        if lay is not None and len(lay):
            layers.append(lay)
        else:
            absent["餐饮取餐点"] = "路网数据中没有餐馆、快餐或咖啡馆"
    for spec in demand_files or []:
        spec = dict(spec)
        path = spec.pop("path")
        layers.append(demand_mod.points_layer(path, subdistricts=sds, **spec))
    notes.extend(f"未计算{label}：{why}" + (f"（{detail[label]}）" if label in detail else "")
                 for label, why in absent.items())
    return Study(osm_path=osm, study_area=area, subdistricts=sds, demand=layers, features=features,
                 notes=notes, absent=absent, place=place, census=census, graph_source=graph, settings=settings,
                 _graphs={"walk": walk})


def _describe(kind: Any, amenity: Any, open_at: Any) -> tuple[str, str]:
    """Chinese and English words for the filtered station set ("营业中的司机之家" / "an open driver_home")."""
    from geomap.stations.index import StationFilter
    from geomap.vocab import amenities, kinds

    flt = StationFilter.make(kind=kind, amenity=amenity, open_at=open_at)
    zh = "、".join(kinds().terms[k].label for k in flt.kind) if flt.kind else "站点"
    en = " or ".join(flt.kind) if flt.kind else "station"
    if flt.amenity:
        zh = f"有{'、'.join(amenities().terms[a].label for a in flt.amenity)}的{zh}"
        en = f"{en} with {', '.join(flt.amenity)}"
    if open_at is not None:
        zh = f"营业中的{zh}"
        en = f"open {en}"
    return zh, f"an {en}" if en[0] in "aeiou" else f"a {en}"
