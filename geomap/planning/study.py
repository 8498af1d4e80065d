"""A planning study: everything coverage and site proposals need, read once.

A :class:`Study` holds the study area (WGS84 polygon), the 街道 polygons with census residents, the demand
layers (residents, restaurants / pickup points, user files) and the OSM features (for candidate sites),
and loads each mode's street graph on demand (:func:`geomap.network.source.load_graph`).

Defaults (all overridable): the OSM extract the CLI routes on; the study area is the convex hull of the
walking network's nodes (or a user boundary file, e.g. a district outline in GCJ-02); 街道 come from a
user file, else from the extract (:func:`geomap.planning.subdistricts.subdistricts_from_osm`); residents from
``settings.population_path`` when that file exists.
"""

from __future__ import annotations

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
from geomap.planning.coverage import CoverageResult, coverage, filter_stations, gap_grid, street_midpoints
from geomap.planning.siting import Candidates, SitePlan, file_candidates, h3_candidates, osm_candidates, propose_sites
from geomap.settings import get_settings

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
    _graphs: dict[str, StreetGraph] = field(default_factory=dict, repr=False)
    _explicit_osm: bool = field(default=False, repr=False)

    def graph(self, mode: str) -> StreetGraph:
        """The street graph of ``mode`` for this study's extract (the active network's, shared with the
        rest of the process, unless the study was given its own extract)."""
        if mode not in self._graphs:
            from geomap.network.source import load_graph

            self._graphs[mode] = load_graph(mode, osm_path=self.osm_path if self._explicit_osm else None)
        return self._graphs[mode]

    def layer(self, name: str) -> demand_mod.DemandLayer:
        for lay in self.demand:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def coverage(self, index: Any, *, minutes: float | None = None, mode: str | None = None, kind: Any = None,
                 amenity: Any = None, open_at: Any = None, with_area: bool = True) -> CoverageResult:
        """Coverage of a StationIndex's stations matching kind / amenity / open-at filters, by ``mode``
        (default ``settings.default_mode``) within ``minutes`` (default ``settings.default_minutes``)."""
        mode = mode or get_settings().default_mode
        stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
        res = coverage(self.graph(mode), stations, minutes=minutes, demand=self.demand,
                       subdistricts=self.subdistricts, with_area=with_area)
        res.stations_zh, res.stations_en = _describe(kind, amenity, open_at)
        return res

    def gaps(self, index: Any, *, minutes: float | None = None, mode: str | None = None, kind: Any = None,
             amenity: Any = None, open_at: Any = None, resolution: int | None = None,
             result: CoverageResult | None = None) -> Any:
        """The H3 gap grid (:func:`geomap.planning.coverage.gap_grid`) of the filtered stations over the study area."""
        if result is None:
            result = self.coverage(index, minutes=minutes, mode=mode, kind=kind, amenity=amenity,
                                   open_at=open_at, with_area=False)
        stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
        return gap_grid(result, self.graph(result.mode), stations, self.study_area, resolution=resolution,
                        subdistricts=self.subdistricts)

    def candidates(self, *, sources: tuple[str, ...] = ("osm", "h3"), path: str | Path | None = None,
                   crs: str = "wgs84", resolution: int | None = None) -> Candidates:
        """Candidate sites: ``osm`` host places, ``h3`` cell centres, and/or a user file ``path`` in ``crs``."""
        parts = []
        if "osm" in sources and self.features is not None:
            parts.append(osm_candidates(self.features.pois, study_area=self.study_area))
        if "h3" in sources:
            parts.append(h3_candidates(self.study_area, resolution=resolution))
        if path is not None:
            parts.append(file_candidates(path, crs=crs))
        if not parts:
            raise ValueError("no candidate sites: give sources ('osm', 'h3') or a candidates file")
        return Candidates.concat(parts)

    def plan(self, index: Any, *, p: int, minutes: float | None = None, mode: str | None = None,
             kind: Any = None, amenity: Any = None, open_at: Any = None, candidates: Candidates | None = None,
             solver: str = "greedy", result: CoverageResult | None = None) -> SitePlan:
        """Propose ``p`` new sites (:func:`geomap.planning.siting.propose_sites`) keeping the filtered stations."""
        if result is None:
            result = self.coverage(index, minutes=minutes, mode=mode, kind=kind, amenity=amenity,
                                   open_at=open_at, with_area=False)
        stations = filter_stations(index, kind=kind, amenity=amenity, open_at=open_at)
        cands = candidates if candidates is not None else self.candidates()
        return propose_sites(self.graph(result.mode), stations, result, cands, p=p, solver=solver,
                             subdistricts=self.subdistricts)


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


def load_study(*, osm_path: str | Path | None = None, study_area: str | Path | shapely.Geometry | None = None,
               study_area_crs: str = "wgs84", subdistricts: str | Path | None = None,
               subdistricts_crs: str = "wgs84", population: str | Path | None = None,
               demand_files: list[dict[str, Any]] | None = None, restaurants: bool = True,
               residents: bool = True) -> Study:
    """Assemble a :class:`Study`.

    ``osm_path``: the extract (default: the active network's source). ``study_area``: a WGS84 polygon or
    a boundary file in ``study_area_crs``. ``subdistricts``: a 街道 boundary file in ``subdistricts_crs``.
    ``population``: census CSV (default ``settings.population_path`` when it exists). ``demand_files``:
    dicts of :func:`geomap.planning.demand.points_layer` arguments (``path``, ``crs``, ``weight_column``, ``name``).
    """
    from geomap.network.source import active_source, load_graph

    notes: list[str] = []
    explicit = osm_path is not None
    if osm_path is None:
        src = active_source() or {}
        osm_path = src.get("osm_path")  # None for a downloaded network: no buildings / POIs then
    osm_path = Path(osm_path) if osm_path else None
    features = read_osm_features(osm_path) if osm_path is not None else None
    walk = load_graph("walk", osm_path=osm_path if explicit else None)
    if study_area is None:
        area = shapely.convex_hull(shapely.multipoints(np.column_stack([walk.node_lon, walk.node_lat])))
        notes.append("study area: convex hull of the walking network")
    elif isinstance(study_area, shapely.Geometry):
        area = study_area
    else:
        area = read_area(study_area, crs=study_area_crs)
        notes.append(f"study area: {study_area} ({study_area_crs})")
    if subdistricts is not None:
        sds = sd_mod.read_subdistricts(subdistricts, crs=subdistricts_crs)
        sds = sds.assign(geometry=shapely.intersection(sds.geometry.values, area))
        sds = sds[~sds.geometry.is_empty].reset_index(drop=True)
    elif features is not None:
        sds = sd_mod.subdistricts_from_osm(features, area)
        if len(sds) and (sds["source"] == "osm-partial").all():
            notes.append("街道 rebuilt from the boundary ways present in the extract (relations are clipped)")
    else:
        sds = sd_mod._frame([], source="none")
    pop_path = Path(population) if population is not None else get_settings().population_path
    if pop_path is not None and Path(pop_path).exists():
        sds = sd_mod.attach_population(sds, sd_mod.read_population(pop_path))
    else:
        sds = sds.assign(population=np.nan, official_area_km2=np.nan, population_here=np.nan)
        if residents:
            notes.append("no census file: no residents layer")
            residents = False
    layers: list[demand_mod.DemandLayer] = []
    if residents and features is not None:
        streets = (*street_midpoints(walk), walk.street_length_m)
        lay = demand_mod.residents_layer(sds, features.buildings, street_points=streets)
        layers.append(lay)
        notes.extend(lay.notes)
    if restaurants and features is not None:
        layers.append(demand_mod.pois_layer(features.pois, sds, study_area=area))
    for spec in demand_files or []:
        spec = dict(spec)
        path = spec.pop("path")
        layers.append(demand_mod.points_layer(path, subdistricts=sds, **spec))
    return Study(osm_path=osm_path, study_area=area, subdistricts=sds, demand=layers, features=features,
                 notes=notes, _graphs={"walk": walk}, _explicit_osm=explicit)


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
