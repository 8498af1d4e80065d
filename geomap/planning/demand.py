"""Demand layers for coverage: who and what a service circle should reach, as weighted points.

A :class:`DemandLayer` is an array of WGS84 points (lon/lat degrees) with a weight each (people, order
counts, 1 per restaurant …) and the 街道 each lies in. Three kinds:

- :func:`residents_layer`: census population per 街道 spread over its residential buildings in proportion
  to footprint area (falling back to its streets, in proportion to street length, when the 街道 has no
  mapped residential building). Method and limits: ``docs/coverage.md``.
- :func:`pois_layer`: delivery pickup points from OSM (restaurants, fast food, cafés by default), weight 1.
- :func:`points_layer`: a user file of demand points with a weight column, in any supported coordinate
  system (``wgs84`` / ``gcj02`` / ``bd09``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geomap.coords import to_wgs84
from geomap.planning._osm_features import RESIDENTIAL_BUILDINGS
from geomap.planning.subdistricts import assign_subdistrict, metric_crs_for

__all__ = ["PICKUP_AMENITIES", "DemandLayer", "points_layer", "pois_layer", "read_points_file", "residents_layer"]

PICKUP_AMENITIES = ("restaurant", "fast_food", "cafe")
LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")


@dataclass
class DemandLayer:
    """Weighted demand points. ``lon`` / ``lat``: WGS84 degrees; ``weight``: units of ``unit``;
    ``subdistrict``: 街道 name per point (None outside every 街道)."""

    name: str
    label_zh: str
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float64]
    subdistrict: npt.NDArray[np.object_]
    unit: str = "points"
    notes: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    """街道 this layer holds no figure for: name -> why, in Chinese (e.g. 人口普查表中没有该街道的数字). Their
    rows show the layer as not measured, never as 0."""

    def __len__(self) -> int:
        return len(self.lon)

    @property
    def total(self) -> float:
        return float(self.weight.sum())

    def to_frame(self) -> Any:
        """GeoDataFrame (EPSG:4326): ``layer, weight, subdistrict, geometry``."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            {"layer": self.name, "weight": self.weight, "subdistrict": self.subdistrict},
            geometry=shapely.points(self.lon, self.lat), crs="EPSG:4326",
        )


def _is_residential(buildings: Any) -> npt.NDArray[np.bool_]:
    kind = buildings["building"].astype(str).values
    explicit = np.isin(kind, list(RESIDENTIAL_BUILDINGS))
    in_landuse = (kind == "yes") & buildings["residential_landuse"].values.astype(bool)
    return explicit | in_landuse


def residents_layer(subdistricts: Any, buildings: Any, *, street_points: tuple[Any, Any, Any] | None = None
                    ) -> DemandLayer:
    """Census residents as weighted points.

    ``subdistricts``: GeoDataFrame with ``name``, ``population_here`` (see
    :func:`geomap.planning.subdistricts.attach_population`) and WGS84 polygons. ``buildings``: OSM footprints
    (``building``, ``residential_landuse``, WGS84 geometry). A building is residential when tagged
    apartments / residential / house / dormitory … or ``building=yes`` inside ``landuse=residential``.
    ``street_points``: ``(lon, lat, length_m)`` arrays of street midpoints for the fallback.
    A 街道 without a census figure gets no residents (noted in ``notes``).
    """
    res = buildings[_is_residential(buildings)] if len(buildings) else buildings
    notes: list[str] = []
    lon_parts, lat_parts, w_parts, sd_parts = [], [], [], []
    if len(res):
        pts = res.geometry.representative_point().values
        b_lon, b_lat = shapely.get_x(pts), shapely.get_y(pts)
        b_sd = assign_subdistrict(subdistricts, b_lon, b_lat)
        b_area = res.to_crs(metric_crs_for(res)).area.values
    else:
        b_lon = b_lat = b_area = np.zeros(0)
        b_sd = np.zeros(0, dtype=object)
    if street_points is not None:
        s_lon, s_lat, s_len = (np.asarray(a, dtype=float) for a in street_points)
        s_sd = assign_subdistrict(subdistricts, s_lon, s_lat)
    missing: dict[str, str] = {}
    for name, pop in zip(subdistricts["name"].values, subdistricts["population_here"].values, strict=True):
        if not np.isfinite(pop):
            notes.append(f"{name}：人口普查表中没有该街道的数字，未计入常住人口")
            missing[name] = "人口普查表中没有该街道的数字"
            continue
        mine = b_sd == name
        if mine.any() and b_area[mine].sum() > 0:
            lon, lat, share = b_lon[mine], b_lat[mine], b_area[mine] / b_area[mine].sum()
        elif street_points is not None and (s_sd == name).any():
            m = s_sd == name
            lon, lat, share = s_lon[m], s_lat[m], s_len[m] / s_len[m].sum()
            notes.append(f"{name}：地图上没有住宅建筑，常住人口按街道长度分布")
        else:
            notes.append(f"{name}：既没有住宅建筑也没有街道，{pop:,.0f} 名常住人口无法落位")
            missing[name] = "地图上既没有住宅建筑也没有道路，人口无法落位"
            continue
        lon_parts.append(lon)
        lat_parts.append(lat)
        w_parts.append(pop * share)
        sd_parts.append(np.full(len(lon), name, dtype=object))
    def cat(parts: list[Any], dt: Any) -> Any:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dt)

    return DemandLayer(
        name="residents", label_zh="常住人口", lon=cat(lon_parts, float), lat=cat(lat_parts, float),
        weight=cat(w_parts, float), subdistrict=cat(sd_parts, object), unit="people", notes=notes,
        missing=missing,
    )


def pois_layer(pois: Any, subdistricts: Any, *, amenities: tuple[str, ...] = PICKUP_AMENITIES,
               study_area: shapely.Geometry | None = None, name: str = "restaurants",
               label_zh: str = "餐饮取餐点") -> DemandLayer:
    """OSM points of interest whose ``amenity`` is one of ``amenities`` (default: restaurants, fast food,
    cafés — where riders pick orders up), weight 1 each, inside ``study_area`` when given."""
    sel = pois[pois["amenity"].isin(amenities)] if len(pois) else pois
    lon = shapely.get_x(sel.geometry.values).astype(float) if len(sel) else np.zeros(0)
    lat = shapely.get_y(sel.geometry.values).astype(float) if len(sel) else np.zeros(0)
    if study_area is not None and len(lon):
        inside = shapely.contains_xy(study_area, lon, lat)
        lon, lat = lon[inside], lat[inside]
    return DemandLayer(name=name, label_zh=label_zh, lon=lon, lat=lat, weight=np.ones(len(lon)),
                       subdistrict=assign_subdistrict(subdistricts, lon, lat), unit="places")


def read_points_file(path: str | Path, *, what: str = "points") -> tuple[Any, Any, Any, int]:
    """Read a points file: CSV with lon/lat columns (``lon``/``lng``/``经度``, ``lat``/``纬度``) or any
    GeoJSON / GeoPackage of Points. Returns the table, lon, lat (as given, in the file's coordinate system)
    and the row number of the first record (2 for CSV: the header is row 1; 0 for feature indices).
    Raises ``ValueError`` naming the first row with a missing or invalid coordinate."""
    import geopandas as gpd
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() in (".csv", ".txt"):
        df = pd.read_csv(path, encoding="utf-8-sig")
        lower = {c.lower(): c for c in df.columns}
        lon_c = next((lower[c] for c in LON_COLUMNS if c in lower), None)
        lat_c = next((lower[c] for c in LAT_COLUMNS if c in lower), None)
        if lon_c is None or lat_c is None:
            raise ValueError(f"{path}: no longitude/latitude columns (looked for {', '.join(LON_COLUMNS)} and "
                             f"{', '.join(LAT_COLUMNS)})")
        lon = pd.to_numeric(df[lon_c], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(df[lat_c], errors="coerce").to_numpy(float)
        first_row = 2  # header is row 1
    else:
        df = gpd.read_file(path)
        if not np.all(shapely.get_type_id(df.geometry.values) == 0):
            raise ValueError(f"{path}: {what} features must be Points")
        lon = shapely.get_x(df.geometry.values).astype(float)
        lat = shapely.get_y(df.geometry.values).astype(float)
        first_row = 0  # feature index
    bad = np.flatnonzero(~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lat) > 90) | (np.abs(lon) > 180))
    if len(bad):
        raise ValueError(f"{path}: row {bad[0] + first_row}: missing or invalid coordinate "
                         f"({len(bad)} such rows)")
    return df, lon, lat, first_row


def points_layer(path: str | Path, *, subdistricts: Any, crs: str = "wgs84", weight_column: str | None = None,
                 name: str | None = None, label_zh: str | None = None) -> DemandLayer:
    """A user file of demand points (CSV with lon/lat columns — ``lon``/``lng``/``经度``, ``lat``/``纬度`` —
    or any GeoJSON / GeoPackage of points) with an optional weight column (default weight 1).

    ``crs``: the coordinate system of the file's coordinates. Raises ``ValueError`` naming the row of the
    first bad value (missing or non-numeric coordinate or weight, negative weight).
    """
    import pandas as pd

    path = Path(path)
    df, lon, lat, first_row = read_points_file(path, what="demand")
    if weight_column is not None:
        if weight_column not in df.columns:
            raise ValueError(f"{path}: no weight column {weight_column!r}; "
                             f"columns are {', '.join(map(str, df.columns))}")
        weight = pd.to_numeric(df[weight_column], errors="coerce").to_numpy(float)
        badw = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
        if len(badw):
            raise ValueError(f"{path}: row {badw[0] + first_row}: weight must be a number >= 0 "
                             f"({len(badw)} such rows)")
    else:
        weight = np.ones(len(lon))
    lon, lat = to_wgs84(lon, lat, src=crs)
    return DemandLayer(
        name=name or path.stem, label_zh=label_zh or path.stem, lon=np.asarray(lon, float),
        lat=np.asarray(lat, float), weight=weight, subdistrict=assign_subdistrict(subdistricts, lon, lat),
        unit=weight_column or "points",
    )
