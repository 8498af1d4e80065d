"""Three small regions for the regions tests, made once per session: 杨浦区 and 虹口区 cut from the real
Yangpu extract by their district outlines (cut to the extract's extent; they share a border inside it), and
a small generated city far away; one registry holding the sample's 46 stations and the city's 12. The
buffer is 800 m (small enough to cut 虹口区's extract)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from geomap.planning.study import read_area
from geomap.regions.workspace import RegionsWorkspace, write_regions_workspace
from geomap.workspace import open_workspace
from scripts.national_sample import outline
from scripts.synthetic_city import City, write_city
from tests._workspaces import need_sample

BUFFER_M = 800.0
EXTRACT_WGS84 = (121.477, 31.278, 121.528, 31.332)
"""The sample extract's node extent (../shared/data/README.md), WGS84."""


def make_three_regions(folder: Path, *, gen_osm: Path | None = None) -> tuple[RegionsWorkspace, City]:
    """Write the three-region workspace in ``folder`` (the generated city in ``folder / 'gen-src'``)."""
    sample = open_workspace(need_sample())
    city = write_city(folder / "gen-src", nodes=400, stations=12, name="合成市", origin=(113.0, 28.0),
                      restaurants=20)
    (folder / "gen-src" / "outline.geojson").write_text(json.dumps(outline(city.bbox_wgs84)), encoding="utf-8")
    outlines = {}
    for key in ("yangpu", "hongkou"):  # the district outlines cut to the extract (its 街道 are rebuilt quicker)
        area = read_area(sample.root / "boundaries" / f"{key}_district_gcj02.geojson", crs="gcj02")
        cut = shapely.intersection(area, shapely.box(*EXTRACT_WGS84))
        outlines[key] = folder / f"{key}.geojson"
        outlines[key].write_text(json.dumps(shapely.geometry.mapping(cut)), encoding="utf-8")
    rws = write_regions_workspace(folder / "ws", name="测试省", buffer_m=BUFFER_M, regions=[
        {"key": "yangpu", "name": "杨浦区", "osm_path": sample.osm_path, "boundary_path": outlines["yangpu"],
         "population_path": sample.settings.population_path},
        {"key": "hongkou", "name": "虹口区", "osm_path": sample.osm_path, "boundary_path": outlines["hongkou"]},
        {"key": "gen", "name": "合成市", "osm_path": gen_osm or city.osm_path,
         "boundary_path": folder / "gen-src" / "outline.geojson"}])
    rws.registry.upsert(sample.registry.frame())
    rws.registry.import_file(city.stations_path, crs="gcj02")
    return rws, city


@pytest.fixture(scope="session")
def three_regions(tmp_path_factory: pytest.TempPathFactory) -> tuple[RegionsWorkspace, City]:
    return make_three_regions(tmp_path_factory.mktemp("regions"))
