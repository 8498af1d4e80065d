"""Typed settings, documented in one place: every key of a workspace's ``geomap.toml`` is a field here.

A place's settings live in its workspace (:mod:`geomap.workspace`): ``geomap.toml`` in the workspace folder,
with paths relative to that folder. ``GEOMAP_<NAME>`` environment variables override any of them (a relative
path in a variable is relative to the current folder). Outside a workspace only the defaults and the
variables apply, and no place's data is assumed: the paths of the place (OSM extract, census, boundaries)
are unset.

Units are in the names: ``*_kmh`` km/h, ``*_m`` metres, ``*_km`` kilometres, ``*_minutes`` minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DemandFile(BaseModel):
    """An extra demand layer of a workspace (``[[demand]]`` in ``geomap.toml``): weighted points."""

    model_config = ConfigDict(extra="forbid")
    path: Path = Field(description="CSV / GeoJSON / GeoPackage of points (relative to the workspace folder)")
    crs: str = Field("wgs84", description="Coordinate system of the file: wgs84, gcj02 or bd09")
    weight_column: str | None = Field(None, description="Column holding each point's weight (default 1 each)")
    name: str | None = Field(None, description="Layer name (default: the file's name)")


class Settings(BaseSettings):
    """All settings of geomap; a workspace's ``geomap.toml`` sets any of them (see :mod:`geomap.workspace`)."""

    model_config = SettingsConfigDict(env_prefix="GEOMAP_", extra="ignore")

    # --- the place (workspace) ------------------------------------------------------------------------
    name: str = Field("", description="The place as people say it, shown on every output (e.g. 杨浦区)")
    publisher: str = Field("", description="Who publishes the map and reports (e.g. 杨浦区总工会)")
    area_label: str | None = Field(
        None, description="Words for the area the street data covers, on the rider page (服务范围：…); "
        "default: the name")
    lists_crs: str | None = Field(
        None, description="Coordinate system the place's station lists usually come in (wgs84, gcj02, bd09); "
        "`geomap import` uses it when no --crs is given")
    osm_path: Path | None = Field(None, description="The place's OpenStreetMap extract (.osm.pbf or .osm)")
    registry_path: Path | None = Field(
        None, description="The station registry (GeoPackage); in a workspace default registry.gpkg in its folder")
    cache_dir: Path | None = Field(
        None, description="Folder of the place's caches (graphs), keyed by their inputs; in a workspace "
        "default cache/ in its folder; unset outside one: nothing is cached on disk")
    population_path: Path | None = Field(
        None, description="Census residents per 街道 (CSV: subdistrict_name, population, area_km2); unset: "
        "no residents layer")
    subdistricts_path: Path | None = Field(
        None, description="街道 boundary file (a name column); unset: the 街道 in the OSM extract")
    subdistricts_crs: str = Field("wgs84", description="Coordinate system of subdistricts_path")
    study_area_path: Path | None = Field(
        None, description="Boundary of the place (the study area of planning); unset: the street network's hull")
    study_area_crs: str = Field("wgs84", description="Coordinate system of study_area_path")
    demand: list[DemandFile] = Field(default_factory=list, description="Extra demand layers ([[demand]] tables)")
    timezone: str = Field("Asia/Shanghai", description="Time zone for opening hours and 'open at'")

    # --- import validation ------------------------------------------------------------------------
    duplicate_radius_m: float = Field(
        50.0, description="Two rows closer than this with the same (or contained) name are one place"
    )
    outlier_min_km: float = Field(
        10.0, description="A point is 'far outside the rest of the file' only beyond this distance"
    )
    outlier_median_factor: float = Field(
        8.0, description="... and beyond this many times the median distance of the file's points to "
        "their median centre"
    )

    # --- travel modes (network issue) -------------------------------------------------------------
    walk_speed_kmh: float = Field(5.0, description="Walking speed")
    access_speed_kmh: float = Field(
        5.0, gt=0, description="Speed (km/h) of a trip's two access legs, in every mode: from the point straight "
        "to its street and from the street straight to the station (on foot: compounds, plazas and "
        "pavements are not ridden or driven at street speed)")
    ebike_speed_kmh: float = Field(
        15.0, description="Urban e-bike rider average; GB 17761 caps e-bikes at 25 km/h", le=25.0
    )
    default_minutes: float = Field(15.0, description="Service circle size (15分钟服务圈)")
    max_snap_m: float = Field(300.0, description="Farthest a point may be from the street network")
    label_limit_minutes: float = Field(
        60.0, gt=0, description="Nearest-station searches look no farther than this travel time (minutes): "
        "nobody is sent farther; beyond it a point has no station within reach")
    default_mode: str = Field("ebike", description="Travel mode of `geomap nearest` when none is given")
    isochrone_buffer_m: float = Field(
        30.0, description="Street half-width buffered around reachable street pieces in service circles (metres)"
    )
    isochrone_hole_fill_m2: float = Field(
        20_000.0, description="Holes smaller than this (m²) inside a service circle are filled"
    )

    # --- published map and poster (maps issue) --------------------------------------------------------
    map_tiles: str = Field(
        "none", description="Base map of `geomap map`: none (streets from the OSM extract, no network request), "
        "osm, amap (GCJ-02 tiles) or tianditu"
    )
    tianditu_key: str | None = Field(
        None, description="天地图 browser key for `--tiles tianditu` (GEOMAP_TIANDITU_KEY)"
    )
    poster_dpi: int = Field(300, description="Resolution of `geomap poster` PNG output (dots per inch)", ge=72, le=1200)
    public_url: str | None = Field(
        None, description="Address of the place's online map or rider page (https://…): printed as a QR code on "
        "the poster and named on the HTML map; unset: no QR code")
    data_date: date | None = Field(
        None, description="Date the station list is true on (YYYY-MM-DD), shown as 数据截至 on the map and poster; "
        "unset: the date of the registry's last change (Asia/Shanghai)")

    # --- geocoding of rows without coordinates (issue 18; docs/stations.md) ---------------------------
    geocoder: Literal["none", "amap", "tianditu", "osm"] = Field(
        "none", description="How `geomap import` places rows that give an address or name but no coordinates: "
        "none (they are errors), amap (高德 web service, needs amap_key), tianditu (天地图 web service, needs "
        "tianditu_server_key) or osm (offline, names and addresses in the workspace's OSM extract)")
    amap_key: SecretStr | None = Field(
        None, description="高德 Web 服务 key for geocoder = amap (GEOMAP_AMAP_KEY); never printed")
    tianditu_server_key: SecretStr | None = Field(
        None, description="天地图 服务端 key for geocoder = tianditu (GEOMAP_TIANDITU_SERVER_KEY); never printed. "
        "Not tianditu_key: that is the browser key written into published maps")
    geocode_city: str | None = Field(
        None, description="City the web geocoders search in (高德 `city`, e.g. 上海); unset: nationwide, with the "
        "row's district (or the workspace's name) put in front of its address")
    geocode_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for one web geocoding answer")
    geocode_interval_s: float = Field(
        0.34, ge=0, description="Least seconds between two web geocoding requests (requests are sequential)")
    amap_geocode_url: str = Field(
        "https://restapi.amap.com/v3/geocode/geo", description="高德 geocoding endpoint (tests: a local fake)")
    tianditu_geocode_url: str = Field(
        "https://api.tianditu.gov.cn/geocoder", description="天地图 geocoding endpoint (tests: a local fake)")

    # --- planning (coverage issue) ----------------------------------------------------------------
    h3_resolution: int = Field(9, ge=0, le=15, description="H3 resolution of the gap grid (9: cells of ~0.1 km²)")
    exact_max_pairs: int = Field(
        2_000_000, description="The exact site solver (MILP) runs only when candidates × demand cells fit this"
    )
    pickup_weight: float = Field(
        500.0, ge=0, description="Residents one delivery pickup point (restaurant) counts as when gaps are ranked "
        "and sites chosen (每个餐饮取餐点折合多少名常住人口); a planning judgement, stated in the report")

    # --- service (API issue) ----------------------------------------------------------------------
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for the service's admin endpoints (GEOMAP_ADMIN_TOKEN); unset = writes refused"
    )
    admin_token_name: str = Field(
        "管理员", min_length=1, max_length=100, description="Who writes made with the admin token are recorded as "
        "in the registry's history (GEOMAP_ADMIN_TOKEN_NAME), e.g. the person or office holding the token"
    )


PATH_FIELDS: tuple[str, ...] = tuple(
    k for k, f in Settings.model_fields.items() if f.annotation in ("Path", "Path | None", Path, Path | None))
"""The settings that are paths (relative to the workspace folder in ``geomap.toml``)."""

_SETTINGS: Settings | None = None
_CURRENT: ContextVar[Settings | None] = ContextVar("geomap_settings", default=None)


def get_settings() -> Settings:
    """The settings in force: those of :func:`settings_in_force` when inside one, else the process-wide ones
    (:func:`use_settings`, or the defaults and ``GEOMAP_*`` variables read on first use)."""
    current = _CURRENT.get()
    if current is not None:
        return current
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = Settings()
    return _SETTINGS


def use_settings(settings: Settings) -> Settings:
    """Make ``settings`` the process-wide settings (a command or a service working on one workspace)."""
    global _SETTINGS
    _SETTINGS = settings
    return settings


@contextmanager
def settings_in_force(settings: Settings) -> Iterator[Settings]:
    """Within the block (this thread or task), :func:`get_settings` gives ``settings``: a workspace's
    methods run inside one, so two workspaces open in one process never mix their settings."""
    token = _CURRENT.set(settings)
    try:
        yield settings
    finally:
        _CURRENT.reset(token)
