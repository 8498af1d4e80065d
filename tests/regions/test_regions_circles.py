"""Service circles across regions: a region's circles are the ones its place served alone draws for its
stations (also at a border, within the buffer's exactness), the merge keeps each region's area and cuts rings
by the nearest station anywhere, and `geomap map` on a regions workspace draws them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from geomap.publish.maps import _extract_data, service_bands
from geomap.regions.batch import run_batch
from geomap.regions.circles import circle_params, merge_circles, region_circles, within_areas
from geomap.workspace import init_workspace
from tests._workspaces import sample_workspace


def _metric(geoms: list[shapely.Geometry], lon: float, lat: float) -> list[shapely.Geometry]:
    from pyproj import Transformer

    from geomap.coords import local_metric_crs

    fwd = Transformer.from_crs("EPSG:4326", local_metric_crs(lon, lat), always_xy=True)
    return [shapely.transform(g, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


def _mean_offset_m(got: shapely.Geometry, want: shapely.Geometry) -> float:
    """How far apart two outlines are on average (m): the symmetric difference's area over the outline's length,
    in a local metric projection."""
    c = want.centroid
    g, w = _metric([got, want], c.x, c.y)
    return float(shapely.symmetric_difference(g, w).area / max(w.length, 1e-9))


def _within(bands) -> list[shapely.Geometry]:
    rings = list(bands.geometry)
    return [shapely.union_all(rings[: k + 1]) for k in range(len(rings))]


def test_a_regions_circles_are_its_place_alones(three_regions, tmp_path: Path):
    """The generated city as a region (its clipped extract holds all of it) draws the circles its place
    served alone draws for the same stations."""
    rws, city = three_regions
    gen = rws.index_of("gen")
    got = region_circles(rws, gen, minutes=[2, 4], mode="ebike")
    frame = rws.stations()
    mine = frame[frame["region"] == gen]
    assert got["stations"] == got["on_network"] == len(mine) == 12
    ws = init_workspace(tmp_path / "city", name="合成市", osm=city.osm_path, lists_crs="gcj02")
    with ws.in_force():
        want = service_bands(ws.graph("ebike"), mine["lon"], mine["lat"], minutes=[2, 4])
    for g, w in zip(within_areas(got), _within(want), strict=True):
        assert not w.is_empty and _mean_offset_m(g, w) < 0.5  # the same raster; simplified by 2 m at most
    assert got["area_km2"] == pytest.approx(list(want["area_km2"]), rel=1e-6)


def test_circles_at_a_border_are_exact_within_the_buffer(three_regions, tmp_path: Path):
    """杨浦区's circles on its clipped network (outline + 800 m) are the sample place's (the whole extract) for
    the stations 杨浦区 counts, for times a trip cannot leave the buffer in; and they reach into 虹口区."""
    rws, _ = three_regions
    yp, hk = rws.index_of("yangpu"), rws.index_of("hongkou")
    alone = sample_workspace(tmp_path / "alone")
    graph = alone.graph("ebike")
    fastest = max(float(np.max(graph.street_length_m / np.maximum(graph.street_travel_s, 1e-9))),
                  rws.settings.access_speed_kmh / 3.6)
    limit_min = rws.buffer_m / fastest / 60.0
    minutes = [round(limit_min * 0.5, 2), round(limit_min * 0.95, 2)]
    assert minutes[0] >= 0.5
    got = region_circles(rws, yp, minutes=minutes, mode="ebike")
    frame = rws.stations()
    mine = frame[frame["region"] == yp]
    with alone.in_force():
        want = service_bands(graph, mine["lon"], mine["lat"], minutes=minutes)
    for g, w in zip(within_areas(got), _within(want), strict=True):
        assert _mean_offset_m(g, w) < 0.5  # the same streets reached: the same outline, simplified by 2 m at most
    # a station of 杨浦区 near the border: its circle crosses into 虹口区
    assert shapely.intersection(within_areas(got)[-1], rws.boundaries[hk]).area > 0


def test_merged_circles_keep_every_regions_area_and_take_the_nearest_ring(three_regions):
    rws, _ = three_regions
    params = circle_params(rws, minutes=[2, 4], mode="ebike")
    res = run_batch(rws, "circles", params=params, workers=0, progress=False)
    assert not res.failed and list(res.regions["region"]) == rws.keys
    assert int(res.regions["stations"].sum()) == len(rws.registry)  # each station drawn by one region
    rings = list(res.cells.geometry)
    assert list(res.cells["minutes"]) == [2.0, 4.0] and list(res.cells["minutes_lo"]) == [0.0, 2.0]
    assert shapely.intersection(rings[0], rings[1]).area < 1e-12  # disjoint rings
    merged_within = [rings[0], shapely.union_all(rings)]
    for key in rws.keys:
        for k, area in enumerate(within_areas(res.payloads[key])):
            assert shapely.difference(area, merged_within[k]).area < 1e-9 * max(area.area, 1e-12) + 1e-14
    # neighbours' circles overlap at the 杨浦区 / 虹口区 border: unioned, not drawn twice
    yp, hk = (within_areas(res.payloads[k])[1] for k in ("yangpu", "hongkou"))
    overlap = shapely.intersection(yp, hk).area
    assert overlap > 0
    total = sum(a.area for key in rws.keys for a in within_areas(res.payloads[key])[1:])
    assert merged_within[1].area == pytest.approx(total - overlap, rel=1e-6)


def _square(x: float, y: float, r: float) -> dict:
    return json.loads(shapely.to_geojson(shapely.box(x - r, y - r, x + r, y + r)))


def test_merge_takes_each_point_in_its_nearest_ring():
    """A point within 2 minutes of one region's station and 4 of another's is in the 0–2 ring only."""
    a = {"key": "a", "name": "A", "minutes": [2.0, 4.0], "on_network": 1,
         "within": [_square(0.0, 0.0, 1.0), _square(0.0, 0.0, 2.0)]}
    b = {"key": "b", "name": "B", "minutes": [2.0, 4.0], "on_network": 1,
         "within": [_square(2.5, 0.0, 1.0), _square(2.5, 0.0, 2.0)]}
    bands = merge_circles([a, b])
    r0, r1 = bands.geometry
    assert r0.area == pytest.approx(8.0)  # both inner squares, apart
    assert r1.area == pytest.approx(shapely.union_all([shapely.box(-2, -2, 2, 2), shapely.box(0.5, -2, 4.5, 2)]).area
                                    - 8.0)
    assert not r1.contains(shapely.Point(1.8, 0.0)) and r0.contains(shapely.Point(1.8, 0.0))  # B's 2-min square
    assert list(bands["stations"]) == [2, 2]
    with pytest.raises(ValueError, match="分钟数"):
        merge_circles([a, {**b, "minutes": [5.0, 10.0]}])


def test_national_map_draws_every_regions_circles(three_regions, tmp_path: Path, capsys):
    rws, _ = three_regions
    from geomap.cli.main import main

    out = tmp_path / "map.html"
    argv = ["-w", str(rws.root), "map", "--out", str(out), "--tiles", "osm", "--layers", "stations,circles",
            "--minutes", "2,4", "--mode", "ebike", "--workers", "0"]
    assert main(argv) == 0
    data = _extract_data(out.read_text(encoding="utf-8"))
    assert data["stations"]["n"] == len(rws.registry)
    assert [f["properties"]["minutes"] for f in data["bands"]["features"]] == [4.0, 2.0]  # widest first
    drawn = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in data["bands"]["features"]])
    for i in range(len(rws.specs)):  # every region has circles on the page
        assert shapely.intersection(drawn, rws.boundaries[i]).area > 0
    capsys.readouterr()
    assert main(argv) == 0  # again: every region from the cache
    assert "读缓存 3 个" in capsys.readouterr().err
