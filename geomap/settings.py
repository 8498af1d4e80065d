"""Typed settings, documented in one place. Override any of them with ``GEOMAP_<NAME>`` env variables.

Units are in the names: ``*_kmh`` km/h, ``*_m`` metres, ``*_km`` kilometres, ``*_minutes`` minutes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All tunable values of geomap. Read once via :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="GEOMAP_", extra="ignore")

    # --- data paths -------------------------------------------------------------------------------
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Folder for sample data, caches and registry")
    registry_path: Path = Field(
        PROJECT_ROOT / "data" / "registry.gpkg", description="The persistent station registry (GeoPackage)"
    )
    cache_dir: Path = Field(PROJECT_ROOT / "data" / "cache", description="Network graph cache folder")
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
    ebike_speed_kmh: float = Field(
        15.0, description="Urban e-bike rider average; GB 17761 caps e-bikes at 25 km/h", le=25.0
    )
    default_minutes: float = Field(15.0, description="Service circle size (15分钟服务圈)")
    max_snap_m: float = Field(300.0, description="Farthest a point may be from the street network")
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

    # --- planning (coverage issue) ----------------------------------------------------------------
    h3_resolution: int = Field(9, ge=0, le=15, description="H3 resolution of the gap grid (9: cells of ~0.1 km²)")
    population_path: Path = Field(
        PROJECT_ROOT / "data" / "population" / "yangpu_subdistricts_2020.csv",
        description="Census residents per 街道 (subdistrict_name, population, area_km2); used when present",
    )
    exact_max_pairs: int = Field(
        2_000_000, description="The exact site solver (MILP) runs only when candidates × demand cells fit this"
    )

    # --- service (API issue) ----------------------------------------------------------------------
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for the service's admin endpoints (GEOMAP_ADMIN_TOKEN); unset = writes refused"
    )


_SETTINGS: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings (environment read on first use)."""
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = Settings()
    return _SETTINGS


def use_settings(settings: Settings) -> Settings:
    """Make ``settings`` the process-wide settings (e.g. read from ``geomap serve --config``)."""
    global _SETTINGS
    _SETTINGS = settings
    return settings
