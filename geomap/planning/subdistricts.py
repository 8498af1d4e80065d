"""街道 (subdistrict) areas for planners, and their census population.

Three sources, in this order of preference:

1. a user boundary file (GeoJSON / GeoPackage / Shapefile; any of ``wgs84`` / ``gcj02`` / ``bd09``) with
   one (Multi)Polygon per 街道 and a name column — :func:`read_subdistricts`;
2. complete ``boundary=administrative`` + ``admin_level=8`` relations in the OSM extract;
3. when the extract clips those relations (a city extract usually holds only a few of their member ways),
   an approximation rebuilt from the boundary ways that *are* present — :func:`rebuild_from_ways`:
   at every junction where boundary ways meet, the sector between two neighbouring ways belongs to the
   街道 both of them bound, which tells each way's left and right 街道; every place of the study area
   then takes the side of its nearest boundary way. The study area is tiled with H3 cells (resolution
   ``resolution``, default 11, ≈ 2,100 m² each, 25 m edges) and cells are dissolved by 街道. Exact next to the ways,
   an extrapolation far from them (see ``docs/coverage.md``).

All geometries are WGS84 lon/lat degrees (EPSG:4326). Areas are measured in a local azimuthal
equidistant frame (metres).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geomap.coords import local_metric_crs, to_wgs84

__all__ = [
    "assign_subdistrict",
    "attach_population",
    "metric_crs_for",
    "read_population",
    "read_subdistricts",
    "rebuild_from_ways",
    "subdistricts_from_osm",
]

NAME_COLUMNS = ("name", "subdistrict_name", "街道", "街道名称", "名称", "NAME", "Name")


def metric_crs_for(geom: Any) -> Any:
    """The local metric CRS (azimuthal equidistant, metres) centred on a WGS84 geometry's bounds."""
    x0, y0, x1, y1 = shapely.bounds(geom) if not hasattr(geom, "total_bounds") else geom.total_bounds
    return local_metric_crs((x0 + x1) / 2.0, (y0 + y1) / 2.0)


def _frame(rows: list[dict[str, Any]] | Any, *, source: str) -> Any:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(rows, columns=["name", "geometry"], geometry="geometry", crs="EPSG:4326")
    gdf["source"] = source
    return gdf[["name", "source", "geometry"]]


def read_subdistricts(path: str | Path, *, name_column: str | None = None, crs: str = "wgs84") -> Any:
    """A user boundary file of 街道 polygons → GeoDataFrame ``name, source, geometry`` in WGS84.

    ``crs``: the coordinate system of the file's coordinates (``wgs84``, ``gcj02`` or ``bd09``);
    ``name_column``: the column holding the 街道 name (default: the first of ``name``,
    ``subdistrict_name``, ``街道``, ``名称`` … present).
    """
    import geopandas as gpd

    gdf = gpd.read_file(path)
    if name_column is None:
        name_column = next((c for c in NAME_COLUMNS if c in gdf.columns), None)
    if name_column is None or name_column not in gdf.columns:
        raise ValueError(f"{path}: no 街道 name column (looked for {', '.join(NAME_COLUMNS)}; "
                         f"columns are {', '.join(map(str, gdf.columns))}); pass name_column=")
    geoms = gdf.geometry.values
    if not np.all(np.isin(shapely.get_type_id(geoms), [3, 6])):
        raise ValueError(f"{path}: every 街道 must be a Polygon or MultiPolygon")
    if crs != "wgs84":
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], src=crs)))
    return _frame({"name": gdf[name_column].astype(str).values, "geometry": geoms}, source=f"file:{crs}")


def _way_sides(ways: Any) -> dict[int, tuple[str | None, str | None]]:
    """Left / right 街道 of each boundary way (relative to the way's own direction), from junctions."""
    coords = [np.asarray(g.coords) for g in ways.geometry.values]
    names = [set(n) for n in ways["names"].values]
    ends: dict[tuple[float, float], list[tuple[int, bool]]] = defaultdict(list)
    for i, c in enumerate(coords):
        ends[(round(c[0, 0], 7), round(c[0, 1], 7))].append((i, True))
        ends[(round(c[-1, 0], 7), round(c[-1, 1], 7))].append((i, False))
    left: dict[int, str | None] = {}
    right: dict[int, str | None] = {}
    for incident in ends.values():
        if len(incident) < 2:
            continue
        angles = []
        for i, at_start in incident:
            c = coords[i]
            d = (c[1] - c[0]) if at_start else (c[-2] - c[-1])  # leaving the junction
            angles.append(np.arctan2(d[1] * 1.0, d[0] * np.cos(np.radians(c[0, 1]))))
        order = np.argsort(angles)
        m = len(order)
        for pos, o in enumerate(order):
            i, at_start = incident[o]
            nxt = incident[order[(pos + 1) % m]][0]
            prv = incident[order[(pos - 1) % m]][0]
            ccw = names[i] & names[nxt]  # sector counter-clockwise of the outgoing way: its left side
            cw = names[i] & names[prv]
            lft = next(iter(ccw)) if len(ccw) == 1 else None
            rgt = next(iter(cw)) if len(cw) == 1 else None
            if not at_start:  # the way arrives here: its own left is the outgoing right
                lft, rgt = rgt, lft
            if lft is not None:
                left.setdefault(i, lft)
            if rgt is not None:
                right.setdefault(i, rgt)
    out = {}
    for i in range(len(coords)):
        lft, rgt = left.get(i), right.get(i)
        two = sorted(names[i])
        if lft is None and rgt is not None and len(two) == 2:
            lft = two[0] if two[1] == rgt else two[1]
        if rgt is None and lft is not None and len(two) == 2:
            rgt = two[0] if two[1] == lft else two[1]
        out[i] = (lft, rgt)
    return out


def _side_of_nearest_way(ways_m: list[npt.NDArray[np.float64]], sides: dict[int, tuple[str | None, str | None]],
                         x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """For metric points (x, y): the 街道 on their side of the nearest boundary way (None if unknown)."""
    seg_a, seg_b, seg_way = [], [], []
    for i, c in enumerate(ways_m):
        seg_a.append(c[:-1])
        seg_b.append(c[1:])
        seg_way.append(np.full(len(c) - 1, i))
    a, b, w = np.concatenate(seg_a), np.concatenate(seg_b), np.concatenate(seg_way)
    ab = b - a
    den = np.maximum((ab**2).sum(1), 1e-12)
    p = np.column_stack([x, y])
    best_d = np.full(len(p), np.inf)
    best_s = np.zeros(len(p), dtype=np.int64)
    best_t = np.zeros(len(p))
    for s0 in range(0, len(a), 256):  # segments in chunks: (points × 256) at a time
        sl = slice(s0, s0 + 256)
        ap = p[:, None, :] - a[None, sl, :]
        t = np.clip((ap * ab[None, sl, :]).sum(2) / den[None, sl], 0.0, 1.0)
        d = ((ap - t[..., None] * ab[None, sl, :]) ** 2).sum(2)
        j = d.argmin(1)
        dj = d[np.arange(len(p)), j]
        better = dj < best_d
        best_d[better] = dj[better]
        best_s[better] = j[better] + s0
        best_t[better] = t[np.arange(len(p)), j][better]
    ap = p - a[best_s]
    cross = ab[best_s, 0] * ap[:, 1] - ab[best_s, 1] * ap[:, 0]
    left = np.array([sides[i][0] for i in range(len(ways_m))], dtype=object)
    right = np.array([sides[i][1] for i in range(len(ways_m))], dtype=object)
    way = w[best_s]
    return np.where(cross > 0, left[way], right[way])


def rebuild_from_ways(ways: Any, study_area: shapely.Geometry, *, resolution: int = 11) -> Any:
    """Approximate 街道 polygons over ``study_area`` (WGS84) from the boundary ways present in an extract.

    ``ways``: GeoDataFrame ``way_id, names (the relations each way bounds), geometry`` (WGS84
    LineStrings), as :func:`geomap.planning._osm_features.read_osm_features` gives. Returns ``name, source,
    geometry`` (source ``osm-partial``); places whose nearest way has an unknown side are left out.
    """
    import h3
    from pyproj import Transformer

    if len(ways) == 0:
        return _frame([], source="osm-partial")
    sides = _way_sides(ways)
    to_m = Transformer.from_crs("EPSG:4326", metric_crs_for(study_area), always_xy=True)
    ways_m = []
    for g in ways.geometry.values:
        c = np.asarray(g.coords)
        xs, ys = to_m.transform(c[:, 0], c[:, 1])
        ways_m.append(np.column_stack([xs, ys]))
    cells = list(h3.geo_to_cells(shapely.geometry.mapping(study_area), resolution))
    if not cells:
        return _frame([], source="osm-partial")
    lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).T
    cx, cy = to_m.transform(lon, lat)
    label = _side_of_nearest_way(ways_m, sides, np.asarray(cx), np.asarray(cy))
    polys = np.array([shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(c)]) for c in cells], dtype=object)
    rows = []
    for name in sorted({n for n in label if n is not None}):
        geom = shapely.intersection(shapely.union_all(polys[label == name]), study_area)
        rows.append({"name": name, "geometry": geom})
    return _frame(rows, source="osm-partial")


def subdistricts_from_osm(features: Any, study_area: shapely.Geometry, *, resolution: int = 11) -> Any:
    """街道 polygons from an extract's features: complete admin_level=8 areas (clipped to the study area)
    when the extract has them, else :func:`rebuild_from_ways`."""
    areas = features.subdistrict_areas
    if len(areas):
        geoms = shapely.intersection(areas.geometry.values, study_area)
        keep = ~shapely.is_empty(geoms)
        return _frame({"name": areas["name"].values[keep], "geometry": geoms[keep]}, source="osm")
    return rebuild_from_ways(features.subdistrict_ways, study_area, resolution=resolution)


def read_population(path: str | Path) -> Any:
    """Census table: ``subdistrict_name``, ``population`` (residents), ``area_km2`` (official area).

    A ``population_census<YEAR>`` column is read as ``population``, and its year kept in
    ``df.attrs["census_year"]`` (None when the file does not say)."""
    import re

    import pandas as pd

    df = pd.read_csv(path, encoding="utf-8-sig")
    year = None
    for col in df.columns:
        m = re.fullmatch(r"population_census(\d{4})", str(col))
        if m and "population" not in df.columns:
            df = df.rename(columns={col: "population"})
            year = int(m.group(1))
            break
    missing = {"subdistrict_name", "population"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    if "area_km2" not in df.columns:
        df["area_km2"] = np.nan
    df.attrs["census_year"] = year
    return df


def attach_population(subdistricts: Any, population: Any) -> Any:
    """Add ``population`` (census, whole 街道), ``official_area_km2``, ``area_km2`` (of the polygon here,
    i.e. inside the study area) and ``population_here``: the census population times the share of the
    街道's official area that lies in the study area (capped at 1), NaN where the census has no figure."""
    gdf = subdistricts.copy()
    pop = population.set_index("subdistrict_name")
    gdf["population"] = gdf["name"].map(pop["population"]).astype(float)
    gdf["official_area_km2"] = gdf["name"].map(pop["area_km2"]).astype(float)
    gdf["area_km2"] = gdf.to_crs(metric_crs_for(gdf)).area.values / 1e6 if len(gdf) else []
    share = np.where(gdf["official_area_km2"] > 0,
                     np.minimum(1.0, gdf["area_km2"] / gdf["official_area_km2"]), 1.0)
    gdf["population_here"] = gdf["population"] * share
    return gdf


def assign_subdistrict(subdistricts: Any, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The 街道 name of each WGS84 point (None outside every polygon; first match where they overlap)."""
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    out = np.full(len(lon), None, dtype=object)
    if len(subdistricts) == 0 or len(lon) == 0:
        return out
    tree = shapely.STRtree(subdistricts.geometry.values)
    pt_idx, poly_idx = tree.query(shapely.points(lon, lat), predicate="intersects")
    names = subdistricts["name"].values
    first = np.unique(pt_idx, return_index=True)[1]
    out[pt_idx[first]] = names[poly_idx[first]]
    return out
