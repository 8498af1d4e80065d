"""A regions workspace: one folder for a province or the country, listing its regions (places).

Its ``geomap.toml`` holds the settings every region shares (the keys of :class:`geomap.settings.Settings`:
speeds, service circle, registry, cache …), the buffer and one ``[[regions]]`` table per region::

    name = "全国示例"
    publisher = "示例总工会"
    registry_path = "registry.gpkg"      # ONE registry for all stations of all regions
    buffer_m = 25000                     # optional; default below

    [[regions]]
    key = "yangpu"                       # letters, digits, - and _: names its cache folder
    name = "杨浦区"
    osm_path = "osm/yangpu.osm.pbf"      # its extract (several regions may share one province file)
    boundary_path = "boundaries/yangpu_district_gcj02.geojson"
    boundary_crs = "gcj02"
    population_path = "population/yangpu_subdistricts_2020.csv"   # optional, as a place's

**The buffer** (metres): each region's networks are built from its extract clipped to its boundary widened
by ``buffer_m`` (:mod:`geomap.regions.clip`), so a route from a point inside the boundary that takes at
most ``buffer_m / v`` seconds at the fastest speed ``v`` never leaves the clipped streets. Default: the
distance covered in ``default_minutes`` at the fastest speed of any travel mode (``vocab/modes.toml``: 100
km/h by car on roads whose ``maxspeed`` says so, so 25 km for 15 minutes): every answer and service circle
within one service circle is then exactly the unclipped one, in every mode.

**Counted once**: a station or demand point belongs to the first region (in ``geomap.toml`` order) whose
boundary covers it, the boundary line included (:meth:`RegionsWorkspace.owner`); a point on a border two
regions share goes to the one listed first. Points in no boundary belong to none and are reported.

Coordinates: boundaries are read in their ``boundary_crs`` and kept in WGS84 lon/lat degrees; distances in
metres, buffers computed in a metric projection centred on each region (azimuthal equidistant).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geomap import coords
from geomap.settings import Settings
from geomap.workspace import (
    WORKSPACE_FILE,
    Workspace,
    WorkspaceError,
    locate_workspace,
    read_workspace_settings,
    read_workspace_toml,
)

__all__ = ["RegionSpec", "RegionsWorkspace", "default_buffer_m", "fastest_speed_kmh", "is_regions_workspace",
           "open_regions", "write_regions_workspace"]

REGIONS_TABLE = "regions"
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OWN_KEYS = ("buffer_m",)


class RegionSpec(BaseModel):
    """One ``[[regions]]`` table: a place inside the regions workspace (paths relative to its folder)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="Short id of the region: letters, digits, - and _ (names its cache folder)")
    name: str = Field(min_length=1, description="The place as people say it (杨浦区)")
    osm_path: Path = Field(description="Its OpenStreetMap extract (may be shared with other regions)")
    boundary_path: Path = Field(description="Its outline (GeoJSON / GeoPackage polygons)")
    boundary_crs: str = Field("wgs84", description="Coordinate system of boundary_path")
    area_label: str | None = Field(None, description="Words for its area on the rider page (default: the name)")
    publisher: str | None = Field(None, description="Who publishes for it (default: the workspace's publisher)")
    population_path: Path | None = Field(None, description="Census residents per 街道 (CSV), as a place's")
    subdistricts_path: Path | None = Field(None, description="街道 boundaries, as a place's")
    subdistricts_crs: str = Field("wgs84", description="Coordinate system of subdistricts_path")

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _KEY.match(v):
            raise ValueError("only letters, digits, - and _ (at most 64)")
        return v

    @field_validator("boundary_crs", "subdistricts_crs")
    @classmethod
    def _crs(cls, v: str) -> str:
        return coords.normalize_crs(v)


def fastest_speed_kmh(settings: Settings) -> float:
    """The fastest speed (km/h) any travel mode may reach on any street (``vocab/modes.toml`` with the
    settings' speeds): the base speed times its largest factor, the largest class speed, or the cap on
    ``maxspeed`` tags where a mode reads them."""
    from geomap.network.graph import load_profiles

    best = 0.0
    for prof in load_profiles(settings=settings).values():
        if prof.base_speed_kmh is not None:
            best = max(best, prof.base_speed_kmh * max([1.0, *map(float, prof.speed_factor.values())]))
        if prof.speed_kmh:
            best = max(best, *map(float, prof.speed_kmh.values()))
        if prof.use_maxspeed:
            best = max(best, float(prof.max_speed_kmh))
    return max(best, float(settings.access_speed_kmh))


def default_buffer_m(settings: Settings) -> float:
    """The default buffer (metres): ``default_minutes`` at :func:`fastest_speed_kmh`."""
    return float(settings.default_minutes) / 60.0 * fastest_speed_kmh(settings) * 1000.0


def is_regions_workspace(root: str | Path) -> bool:
    """Whether the ``geomap.toml`` in ``root`` lists regions."""
    try:
        return REGIONS_TABLE in read_workspace_toml(root)
    except WorkspaceError:
        return False


def _read_area(path: Path, crs: str) -> shapely.Geometry:
    from geomap.planning.study import read_area

    geom = read_area(path, crs=crs)
    return shapely.make_valid(geom) if not shapely.is_valid(geom) else geom


def buffered_wgs84(geom: shapely.Geometry, buffer_m: float) -> shapely.Geometry:
    """A WGS84 polygon widened by ``buffer_m`` metres (buffered in an azimuthal equidistant projection
    centred on it, 16 segments a quarter circle)."""
    from pyproj import Transformer

    c = geom.centroid
    crs = coords.local_metric_crs(c.x, c.y)
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    metric = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    wide = shapely.buffer(metric, buffer_m, quad_segs=16)
    return shapely.transform(wide, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def _fingerprint(path: Path | None) -> str | None:
    if path is None:
        return None
    from geomap.network.graph import source_fingerprint

    return source_fingerprint(path)


@dataclass(eq=False)
class RegionsWorkspace:
    """A province's or the country's workspace: shared ``settings``, the regions' specs, one registry.

    Opened by :func:`open_regions`; boundaries are read on first use. Each region is opened as a place of
    its own by :meth:`region` (a :class:`~geomap.workspace.Workspace` on its clipped extract)."""

    root: Path
    settings: Settings
    specs: list[RegionSpec]
    buffer_setting_m: float | None = None
    _boundaries: list[shapely.Geometry] | None = field(default=None, repr=False)
    _buffered: list[shapely.Geometry] | None = field(default=None, repr=False)
    _registry: Any = field(default=None, repr=False)

    # --- what it is ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def publisher(self) -> str:
        return self.settings.publisher

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.specs]

    @property
    def buffer_m(self) -> float:
        """The buffer in metres: ``buffer_m`` of ``geomap.toml``, else :func:`default_buffer_m`."""
        return float(self.buffer_setting_m) if self.buffer_setting_m is not None else default_buffer_m(self.settings)

    def index_of(self, key: str) -> int:
        """The position of region ``key`` (KeyError naming the known keys)."""
        for i, s in enumerate(self.specs):
            if s.key == key:
                return i
        raise KeyError(f"没有地区 {key!r}（共有：{', '.join(self.keys)}）")

    @property
    def registry_path(self) -> Path:
        assert self.settings.registry_path is not None
        return self.settings.registry_path

    @property
    def cache_dir(self) -> Path:
        assert self.settings.cache_dir is not None
        return self.settings.cache_dir

    @property
    def registry(self) -> Any:
        """The one registry of all regions' stations (:class:`~geomap.stations.registry.Registry`)."""
        if self._registry is None:
            from geomap.stations.registry import Registry

            self._registry = Registry(self.registry_path)
        return self._registry

    def describe(self) -> dict[str, Any]:
        """The workspace and its regions (for ``geomap info`` and ``/healthz``)."""
        return {"name": self.name, "publisher": self.publisher, "root": str(self.root),
                "buffer_m": self.buffer_m, "buffer_from": "geomap.toml" if self.buffer_setting_m is not None
                else f"默认：{self.settings.default_minutes:g} 分钟 × 最快 "
                f"{fastest_speed_kmh(self.settings):g} 公里/小时",
                "regions": [{"key": s.key, "name": s.name, "osm_path": str(s.osm_path),
                             "boundary_path": str(s.boundary_path)} for s in self.specs]}

    # --- boundaries and who counts what ----------------------------------------------------------------
    @property
    def boundaries(self) -> list[shapely.Geometry]:
        """The regions' outlines, WGS84 (read once)."""
        if self._boundaries is None:
            self._boundaries = [_read_area(s.boundary_path, s.boundary_crs) for s in self.specs]
        return self._boundaries

    @property
    def buffered(self) -> list[shapely.Geometry]:
        """The outlines widened by :attr:`buffer_m` (WGS84): what each region's networks and stations cover."""
        if self._buffered is None:
            self._buffered = [buffered_wgs84(b, self.buffer_m) for b in self.boundaries]
        return self._buffered

    def owner(self, lon: Any, lat: Any) -> np.ndarray:
        """The region counting each WGS84 point: the first (in ``geomap.toml`` order) whose boundary covers it,
        the line included; -1 for a point in no region. int64 array."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        out = np.full(len(lon), -1, dtype=np.int64)
        if not len(lon):
            return out
        tree = shapely.STRtree(self.boundaries)
        pt, reg = tree.query(shapely.points(lon, lat), predicate="intersects")
        if len(pt):
            order = np.lexsort((reg, pt))  # by point, then the region listed first
            pt, reg = pt[order], reg[order]
            first = np.r_[True, pt[1:] != pt[:-1]]
            out[pt[first]] = reg[first]
        return out

    def near(self, i: int, lon: Any, lat: Any) -> np.ndarray:
        """Which WGS84 points lie within region ``i``'s boundary widened by the buffer (bool array): the
        stations its networks route to."""
        return shapely.contains_xy(self.buffered[i], np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def stations(self) -> pd.DataFrame:
        """The registry's stations (WGS84), with ``region``: the position of the region counting each (-1:
        none)."""
        frame = self.registry.frame()
        return frame.assign(region=self.owner(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)))

    # --- each region as a place --------------------------------------------------------------------------
    def clipped_osm(self, i: int) -> Path:
        """Region ``i``'s extract clipped to its boundary plus the buffer (:func:`geomap.regions.clip.clip_osm`),
        made once and kept in ``cache/regions/<key>/``, named by its inputs (source content, outline, buffer)."""
        from geomap.regions.clip import clip_osm

        spec = self.specs[i]
        if not spec.osm_path.exists():
            raise FileNotFoundError(f"找不到地区“{spec.name}”的 OSM 文件：{spec.osm_path}")
        key = hashlib.sha256(json.dumps({"source": _fingerprint(spec.osm_path),
                                         "area": shapely.to_wkb(self.buffered[i]).hex()}).encode()).hexdigest()[:20]
        out = self.cache_dir / "regions" / spec.key / f"clip-{key}.osm.pbf"
        if not out.exists():
            for old in out.parent.glob("clip-*.osm.pbf"):
                old.unlink(missing_ok=True)
            clip_osm(spec.osm_path, out, self.buffered[i])
        return out

    def region_settings(self, i: int, *, osm_path: Path | None = None) -> Settings:
        """The settings region ``i`` works with: the workspace's, with its place, clipped extract, outline
        (as study area), census and 街道 files, its own cache folder, and the one registry."""
        spec = self.specs[i]
        return Settings(**{**self.settings.model_dump(), **{
            "name": spec.name, "publisher": spec.publisher if spec.publisher is not None else self.publisher,
            "area_label": spec.area_label or spec.name,
            "osm_path": osm_path if osm_path is not None else spec.osm_path,
            "study_area_path": spec.boundary_path, "study_area_crs": spec.boundary_crs,
            "population_path": spec.population_path, "subdistricts_path": spec.subdistricts_path,
            "subdistricts_crs": spec.subdistricts_crs, "registry_path": self.registry_path,
            "cache_dir": self.cache_dir / "regions" / spec.key}})

    def region(self, i: int | str) -> Workspace:
        """Region ``i`` (position or key) as a place: a :class:`~geomap.workspace.Workspace` on its clipped
        extract (clipped on first use), its outline as the study area, its own graph cache; its registry is
        the workspace's one (all stations: give it the region's own with :meth:`station_frame`)."""
        i = self.index_of(i) if isinstance(i, str) else i
        return Workspace(root=self.root, settings=self.region_settings(i, osm_path=self.clipped_osm(i)))

    def station_frame(self, i: int, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The registry rows region ``i`` routes to: every station within its boundary plus the buffer (its
        own and its neighbours' near the border), with ``region`` as in :meth:`stations`."""
        frame = self.stations() if frame is None else frame
        keep = self.near(i, frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
        return frame[keep].reset_index(drop=True)


def open_regions(path: str | Path | None = None) -> RegionsWorkspace:
    """Open the regions workspace at ``path`` (found as every workspace is: :func:`locate_workspace`).
    Unknown keys, bad values, a duplicate key or a missing file are a :class:`WorkspaceError` naming them."""
    root = locate_workspace(path)
    raw = dict(read_workspace_toml(root))
    where = root / WORKSPACE_FILE
    tables = raw.pop(REGIONS_TABLE, None)
    if not isinstance(tables, list) or not tables:
        raise WorkspaceError(f"{where}：不是多地区工作区（没有 [[regions]] 表）")
    own = {k: raw.pop(k) for k in _OWN_KEYS if k in raw}
    settings = read_workspace_settings(root, raw=raw)
    if not settings.name:
        raise WorkspaceError(f"{where}：缺少 name（地名，如 name = \"江西省\"）")
    specs: list[RegionSpec] = []
    for n, table in enumerate(tables, start=1):
        try:
            spec = RegionSpec(**table)
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise WorkspaceError(f"{where}：第 {n} 个 [[regions]] 有误 / invalid region: {errs}") from None
        update: dict[str, Any] = {}
        for key in ("osm_path", "boundary_path", "population_path", "subdistricts_path"):
            value = getattr(spec, key)
            if value is None:
                continue
            p = value if value.is_absolute() else (root / value).resolve()
            if not p.exists():
                raise WorkspaceError(f"{where}：地区“{spec.name}”的 {key} 文件不存在：{p}")
            update[key] = p
        specs.append(spec.model_copy(update=update))
    dup = sorted({s.key for s in specs if sum(t.key == s.key for t in specs) > 1})
    if dup:
        raise WorkspaceError(f"{where}：地区 key 重复：{', '.join(dup)}")
    buffer = own.get("buffer_m")
    if buffer is not None and (not isinstance(buffer, int | float) or buffer <= 0):
        raise WorkspaceError(f"{where}：buffer_m 应是正数（米），不是 {buffer!r}")
    min_buffer = float(settings.max_snap_m)
    if buffer is not None and buffer < min_buffer:
        raise WorkspaceError(f"{where}：buffer_m = {buffer:g} 米太小：至少要有 max_snap_m（{min_buffer:g} 米），"
                             "边界附近的点才能接入路网")
    return RegionsWorkspace(root=root, settings=settings, specs=specs,
                            buffer_setting_m=None if buffer is None else float(buffer))


def write_regions_workspace(folder: str | Path, *, name: str, regions: list[dict[str, Any]], publisher: str = "",
                            buffer_m: float | None = None, settings: dict[str, Any] | None = None) -> RegionsWorkspace:
    """Write a regions workspace's ``geomap.toml`` in ``folder`` (made if missing) and open it. ``regions``:
    dicts of :class:`RegionSpec` fields (paths absolute or relative to ``folder``); ``settings``: more
    top-level settings (e.g. ``default_minutes``)."""
    from geomap.workspace import _relative, _toml_value

    root = Path(folder).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    lines = ["# geomap 多地区工作区：各地区共用的设置、一个站点库，每个 [[regions]] 是一个地方（docs/regions.md）。",
             f"name = {_toml_value(name)}", f"publisher = {_toml_value(publisher)}",
             'registry_path = "registry.gpkg"', 'cache_dir = "cache"']
    if buffer_m is not None:
        lines.append(f"buffer_m = {float(buffer_m)!r}  # 每个地区的路网取边界外扩这么多米")
    for key, value in (settings or {}).items():
        lines.append(f"{key} = {_toml_value(value)}")
    for spec in regions:
        RegionSpec(**spec)  # fail early, naming the field
        lines += ["", "[[regions]]"]
        for key, value in spec.items():
            if value is None:
                continue
            if isinstance(value, Path) or key.endswith("_path"):
                value = _relative(Path(value), root)
            lines.append(f"{key} = {_toml_value(value)}")
    (root / WORKSPACE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return open_regions(root)
