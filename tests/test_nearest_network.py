"""nearest(mode=...) over the real sample registry: filters select the station set, slots map back."""

from __future__ import annotations

import numpy as np
import pytest

from geomap.nearest import nearest
from geomap.network.nearest import network_nearest


@pytest.fixture(scope="module")
def setup(tmp_path_factory, sample_csv):
    from geomap.network.graph import build_network
    from geomap.stations.registry import Registry
    from tests.conftest import DATA

    osm = DATA / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
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
    from geomap.network.routing import snap_points

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


@pytest.mark.parametrize(("filters", "mode"), [({}, "walk"), ({"kind": "canteen"}, "walk"),
                                               ({"amenity": "water"}, "walk"), ({"kind": "driver_home"}, None)])
def test_nearest_point_equals_the_batch_answer(setup, filters, mode):
    """The one-point answer (plain lists, what the service uses) is the batch answer's row, point by point."""
    from geomap import coords
    from geomap.nearest import nearest_point
    from geomap.network.routing import SnapError

    reg, _, graph, lon, lat = setup
    lon, lat = lon[:150], lat[:150]
    batch = nearest(reg.index, lon, lat, k=3, mode=mode, graph=graph, **filters)
    for i in range(len(lon)):
        try:
            one = nearest_point(reg.index, lon[i], lat[i], k=3, mode=mode, graph=graph, route_crs="gcj02",
                                **filters)
        except SnapError:
            assert mode is not None and np.isinf(batch.travel_s[i]).all()
            continue
        n = len(one.station_id)
        assert one.station_id == [s for s in batch.station_id[i] if s is not None]
        assert one.slot == batch.slot[i, :n].tolist()
        np.testing.assert_array_equal(one.distance_m, batch.distance_m[i, :n])
        if mode is None:
            assert one.travel_s is None and one.route_xy is None
            continue
        np.testing.assert_array_equal(one.travel_s, batch.travel_s[i, :n])
        assert one.snap_m == pytest.approx(float(batch.query_snap_m[i]), abs=1e-6)
        for xy, line in zip(one.route_xy, batch.route[i, :n], strict=True):
            w = np.asarray(line.coords)  # the batch route in WGS84; the one-point route was asked in GCJ-02
            np.testing.assert_allclose(xy, np.column_stack(coords.from_wgs84(w[:, 0], w[:, 1], dst="gcj02")),
                                       atol=1e-9)


def test_nearest_point_follows_edits_of_the_index(setup):
    """nearest_point keeps the labels of a station selection on the selection; an edit of the index (in
    place, as the registry makes) must give new labels: a station added at the query point is found
    first, and once deleted it is gone again, exactly as the batch answer says each time."""
    import copy

    from geomap.nearest import nearest_point
    from geomap.network.routing import snap_points

    reg, stations, graph, lon, lat = setup
    index = copy.deepcopy(reg.index)
    i = int(np.flatnonzero(snap_points(graph, lon, lat, errors="ignore").ok)[0])
    before = nearest_point(index, lon[i], lat[i], k=2, mode="walk", graph=graph)
    assert "NEW1" not in before.station_id
    row = stations.iloc[[0]].copy()
    row["id"], row["lon"], row["lat"] = "NEW1", lon[i], lat[i]
    index.upsert(row)
    added = nearest_point(index, lon[i], lat[i], k=2, mode="walk", graph=graph)
    want = nearest(index, lon[i:i + 1], lat[i:i + 1], k=2, mode="walk", graph=graph)
    assert added.station_id[0] == "NEW1" == want.station_id[0, 0]
    assert added.slot[0] == index.slot_of["NEW1"]
    index.delete(["NEW1"])
    after = nearest_point(index, lon[i], lat[i], k=2, mode="walk", graph=graph)
    assert after.station_id == before.station_id and after.travel_s == before.travel_s


def test_a_batch_with_far_and_unanswerable_points_answers_the_rest(setup):
    """Points far from every street and points with nothing to reach do not fail the batch: they are marked
    (status), and every other point gets exactly its one-point answer."""
    from geomap.nearest import nearest_point
    from geomap.network.routing import SnapError, snap_points

    reg, _, graph, lon, lat = setup
    far_lon = np.array([float(graph.geom_lon.max()) + 0.05, float(graph.geom_lon.min()) - 0.03])
    far_lat = np.array([float(graph.geom_lat.mean()), float(graph.geom_lat.mean())])
    q_lon = np.concatenate([lon[:40], far_lon, lon[40:60]])
    q_lat = np.concatenate([lat[:40], far_lat, lat[40:60]])
    res = nearest(reg.index, q_lon, q_lat, k=2, mode="walk", graph=graph)
    snap = snap_points(graph, q_lon, q_lat, errors="ignore")
    assert (res.status[~snap.ok] == "far_from_streets").all() and (~snap.ok).sum() >= 2
    assert np.isinf(res.travel_s[~snap.ok]).all() and (res.slot[~snap.ok] == -1).all()
    for i in np.flatnonzero(snap.ok):
        one = nearest_point(reg.index, q_lon[i], q_lat[i], k=2, mode="walk", graph=graph)
        assert one.station_id == [s for s in res.station_id[i] if s is not None]
        assert res.status[i] == ("ok" if one.station_id else "none")
    with pytest.raises(SnapError):
        nearest(reg.index, q_lon, q_lat, k=2, mode="walk", graph=graph, on_far="raise")
    # nothing matches the filter anywhere: every point that reached the streets is "none", not an error
    every = ["water", "rest", "toilet", "shower", "laundry", "truck_parking", "lodging", "legal_aid", "mother_room"]
    assert not any(set(every) <= set(a) for a in reg.frame()["amenities"])
    none = nearest(reg.index, q_lon, q_lat, k=2, mode="walk", graph=graph, amenity=every)
    assert set(none.status[snap.ok]) == {"none"} and set(none.status[~snap.ok]) == {"far_from_streets"}
