"""nearest(mode=...) over the real sample registry: filters select the station set, slots map back."""

from __future__ import annotations

import numpy as np
import pytest

from geomap.nearest import nearest
from geomap.network_nearest import network_nearest


@pytest.fixture(scope="module")
def setup(tmp_path_factory, sample_csv):
    from geomap.network import build_network
    from geomap.registry import Registry
    from tests.conftest import DATA

    osm = DATA / "osm" / "yangpu_wujiaochang.osm.pbf"
    if not osm.exists():
        pytest.skip("run `make data`")
    reg = Registry(tmp_path_factory.mktemp("r") / "r.gpkg")
    stations, _ = reg.import_file(sample_csv, crs="gcj02")
    graph = build_network(osm, modes=["walk"], progress=False, cache_dir=tmp_path_factory.mktemp("c"))["walk"]
    rng = np.random.default_rng(5)
    pick = rng.integers(0, len(graph.geom_lon), 1000)  # points near streets (within ~100 m)
    lon = graph.geom_lon[pick] + rng.uniform(-0.001, 0.001, 1000)
    lat = graph.geom_lat[pick] + rng.uniform(-0.0008, 0.0008, 1000)
    return reg, stations, graph, lon, lat


def test_filtered_network_nearest_equals_network_nearest_on_the_subset(setup):
    reg, stations, graph, lon, lat = setup
    res = nearest(reg.index, lon, lat, k=2, kind="canteen", mode="walk", graph=graph, return_routes=False)
    sub = stations[[("canteen" in ks) for ks in stations["kinds"]]]
    ref = network_nearest(graph, station_lon=sub["lon"], station_lat=sub["lat"], station_ids=sub["id"],
                          query_lon=lon, query_lat=lat, k=2, return_routes=False)
    assert (res.station_id == ref.station_id).all()
    np.testing.assert_allclose(res.travel_s, ref.travel_s)
    found = res.slot >= 0
    assert (np.array(reg.index.ids, dtype=object)[res.slot[found]] == res.station_id[found]).all()
    assert all("canteen" in reg.get(i).kinds for i in set(res.station_id[found].tolist()))


def test_network_answer_is_never_shorter_than_straight_line(setup):
    """Triangle inequality: crow-flies(query, station) <= snap(query) + network path + snap(station)."""
    from geomap import coords
    from geomap.routing import snap_points

    reg, _, graph, lon, lat = setup
    net = nearest(reg.index, lon, lat, k=1, mode="walk", graph=graph, return_routes=False)
    ok = net.slot[:, 0] >= 0
    assert ok.mean() > 0.9
    slot = net.slot[ok, 0]
    s_lon, s_lat = reg.index.lon[slot], reg.index.lat[slot]
    s_snap = snap_points(graph, s_lon, s_lat, errors="ignore").distance_m
    crow = coords.haversine_m(lon[ok], lat[ok], s_lon, s_lat)
    assert np.all(crow <= net.query_snap_m[ok] + net.distance_m[ok, 0] + s_snap + 0.5)


def test_unknown_mode_is_a_clear_error(setup):
    reg, *_ = setup
    with pytest.raises(ValueError, match="travel mode"):
        nearest(reg.index, 121.5, 31.3, mode="rocket")
