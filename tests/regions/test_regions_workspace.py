"""The regions workspace: who counts a station or a demand point (once), the clipped extracts, the buffer."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import shapely

from geomap.regions.planning import region_coverage
from geomap.regions.workspace import default_buffer_m, open_regions, write_regions_workspace
from geomap.workspace import WorkspaceError


def _first_covering(boundaries: list[shapely.Geometry], lon: float, lat: float) -> int:
    """The owner rule written plainly: the first outline that covers the point (line included), else -1."""
    pt = shapely.Point(lon, lat)
    return next((n for n, b in enumerate(boundaries) if b.covers(pt)), -1)


def test_every_station_is_counted_by_one_region(three_regions):
    rws, _ = three_regions
    frame = rws.stations()
    expected = [_first_covering(rws.boundaries, lo, la) for lo, la in zip(frame["lon"], frame["lat"], strict=True)]
    assert frame["region"].tolist() == expected
    assert (frame["region"] >= 0).all()  # the sample's stations lie in 杨浦区 or 虹口区, the city's in its outline
    # near the 杨浦区 / 虹口区 border a station is routed to by both regions but counted by one
    yp, hk = (rws.index_of(k) for k in ("yangpu", "hongkou"))
    both = rws.near(yp, frame["lon"], frame["lat"]) & rws.near(hk, frame["lon"], frame["lat"])
    assert both.sum() >= 5
    assert set(frame.loc[both, "region"]) == {yp, hk}


def test_a_point_on_a_shared_edge_goes_to_the_region_listed_first(three_regions, tmp_path: Path):
    _, city = three_regions
    x0, y0, x1, y1 = city.bbox_wgs84
    xm = round((x0 + x1) / 2, 6)

    def rect(a: float, b: float, name: str) -> Path:
        p = tmp_path / f"{name}.geojson"
        p.write_text(json.dumps({"type": "Polygon", "coordinates": [[[a, y0], [b, y0], [b, y1], [a, y1], [a, y0]]]}))
        return p

    west, east = rect(x0, xm, "west"), rect(xm, x1, "east")
    pts_lon = np.array([xm, xm, x0 + 1e-4, x1 - 1e-4, x1 + 0.01])
    pts_lat = np.array([(y0 + y1) / 2, y0, (y0 + y1) / 2, (y0 + y1) / 2, (y0 + y1) / 2])
    for order in (["west", "east"], ["east", "west"]):
        specs = [{"key": k, "name": k, "osm_path": city.osm_path, "boundary_path": {"west": west, "east": east}[k]}
                 for k in order]
        rws = write_regions_workspace(tmp_path / "-".join(order), name="边界", regions=specs, buffer_m=500)
        got = rws.owner(pts_lon, pts_lat)
        first = 0  # the two points on the shared edge go to whichever is listed first
        assert got[:2].tolist() == [first, first]
        assert got[2] == order.index("west") and got[3] == order.index("east") and got[4] == -1
        assert got.tolist() == [_first_covering(rws.boundaries, a, b) for a, b in zip(pts_lon, pts_lat, strict=True)]


def test_clipped_extract_keeps_every_street_near_the_region(three_regions):
    rws, _ = three_regions
    from geomap.workspace import open_workspace
    from tests._workspaces import need_sample

    full = open_workspace(need_sample()).graph("ebike")
    hk = rws.index_of("hongkou")
    clipped = rws.region(hk).graph("ebike")
    assert clipped.n_nodes < full.n_nodes  # the buffer really cuts the extract
    inside = rws.near(hk, full.node_lon, full.node_lat)
    # every street of the full network within the outline plus buffer is in the clipped one (a street
    # reaching out may end farther on in the clipped network: a way crossing it out there is left out)
    ends = inside[full.street_u] & inside[full.street_v]
    full_streets = set(zip(full.node_osmid[full.street_u[ends]].tolist(), full.node_osmid[full.street_v[ends]].tolist(),
                           strict=True))
    clip_streets = set(zip(clipped.node_osmid[clipped.street_u].tolist(),
                           clipped.node_osmid[clipped.street_v].tolist(), strict=True))
    assert full_streets <= clip_streets


def test_default_buffer_is_one_service_circle_at_the_fastest_speed(three_regions):
    rws, _ = three_regions
    modes = tomllib.loads((Path(__file__).parents[2] / "geomap" / "vocab" / "modes.toml").read_text())
    fastest = max(max([*m.get("speed_kmh", {}).values(), m.get("max_speed_kmh", 0.0) if m.get("use_maxspeed") else 0.0])
                  for m in modes.values() if "speed_kmh" in m)
    s = rws.settings
    fastest = max(fastest, s.walk_speed_kmh, s.ebike_speed_kmh)
    assert default_buffer_m(s) == pytest.approx(s.default_minutes / 60 * fastest * 1000)
    assert rws.buffer_m == 800.0  # the workspace's own setting wins


def test_bad_regions_workspace_is_refused_naming_the_problem(three_regions, tmp_path: Path):
    _, city = three_regions
    spec = {"key": "a b", "name": "甲", "osm_path": city.osm_path, "boundary_path": city.osm_path}
    with pytest.raises(ValueError, match="key"):
        write_regions_workspace(tmp_path / "bad", name="坏", regions=[spec])
    (tmp_path / "dup").mkdir()
    text = 'name = "坏"\n' + "".join(f'[[regions]]\nkey = "a"\nname = "甲"\nosm_path = "{city.osm_path}"\n'
                                      f'boundary_path = "{city.osm_path}"\n' for _ in range(2))
    (tmp_path / "dup" / "geomap.toml").write_text(text, encoding="utf-8")
    with pytest.raises(WorkspaceError, match="重复"):
        open_regions(tmp_path / "dup")


def test_region_coverage_counts_demand_and_streets_once(three_regions):
    rws, _ = three_regions
    from geomap.planning._osm_features import read_osm_features
    from geomap.planning.demand import PICKUP_AMENITIES

    frame = rws.stations()
    got = {k: region_coverage(rws, rws.index_of(k), frame=frame, with_area=False) for k in ("yangpu", "hongkou")}
    pois = read_osm_features(rws.specs[0].osm_path).pois
    pois = pois[pois["amenity"].isin(PICKUP_AMENITIES)]
    owners = [_first_covering(rws.boundaries, p.x, p.y) for p in pois.geometry]
    for key, res in got.items():
        i = rws.index_of(key)
        # restaurants: counted by the region whose outline holds them (plain loop), each 街道 row adding up
        assert res["region"]["restaurants"] == owners.count(i)
        assert sum(r["restaurants"] for r in res["subdistricts"]) == owners.count(i)
        assert res["region"]["stations"] == int((frame["region"] == i).sum())
        assert res["region"]["stations_routed"] == int(rws.near(i, frame["lon"], frame["lat"]).sum())
    # the two regions share the extract: their streets (by midpoint) do not overlap, so the lengths add up to
    # at most the extract's
    from geomap.workspace import open_workspace
    from tests._workspaces import need_sample

    full = open_workspace(need_sample()).graph(got["yangpu"]["mode"])
    total = sum(r["region"]["street_km"] for r in got.values())
    assert 0 < total <= full.street_length_m.sum() / 1000 + 1e-6
