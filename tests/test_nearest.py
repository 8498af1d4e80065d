"""Straight-line nearest-k checked against brute force (all pairs, haversine) on thousands of points."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geomap import coords, vocab
from geomap.nearest import nearest
from geomap.stations.hours import parse_hours
from geomap.stations.index import StationIndex

SH = ZoneInfo("Asia/Shanghai")
KINDS = ["outdoor_station", "driver_home", "canteen", "rest_point"]
AMEN = ["water", "toilet", "ebike_charging", "food_heating", "truck_parking"]
HOURS = ["24小时", "9:00-20:30", "8:30-11:00, 13:00-17:00", "周一至周五8:30-17:00", "22:00-06:00", None]


def random_stations(n: int, seed: int, *, prefix: str = "S") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours_raw = [HOURS[i] for i in rng.integers(0, len(HOURS), n)]
    return pd.DataFrame({
        "id": [f"{prefix}{i}" for i in range(n)],
        "lon": rng.uniform(121.3, 121.7, n), "lat": rng.uniform(31.1, 31.4, n),
        "kinds": [list(rng.choice(KINDS, rng.integers(1, 3), replace=False)) for _ in range(n)],
        "amenities": [list(rng.choice(AMEN, rng.integers(0, 4), replace=False)) for _ in range(n)],
        "opening_hours": [parse_hours(h).to_osm() if h else None for h in hours_raw],
        "hours_raw": hours_raw,
    })


def brute(st: pd.DataFrame, lon, lat, k, mask=None):
    """Independent answer: haversine from every query to every allowed station, sorted."""
    allowed = st if mask is None else st[mask]
    d = coords.haversine_m(lon[:, None], lat[:, None], allowed["lon"].to_numpy()[None, :],
                           allowed["lat"].to_numpy()[None, :])
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, order, axis=1)
    ids = allowed["id"].to_numpy()[order]
    if dist.shape[1] < k:
        pad = k - dist.shape[1]
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        ids = np.pad(ids.astype(object), ((0, 0), (0, pad)), constant_values=None)
    return dist, ids


def queries(n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(121.25, 121.75, n), rng.uniform(31.05, 31.45, n)


def assert_same(res, dist, ids):
    np.testing.assert_allclose(res.distance_m, dist, rtol=1e-9, atol=1e-6)
    # ids must match wherever the distance is not tied with another rank of the same row (real lists have
    # stations at identical coordinates); tied ranks must hold the same set of ids
    for row in range(dist.shape[0]):
        groups: dict[float, tuple[set, set]] = {}
        for r in range(dist.shape[1]):
            key = round(float(dist[row, r]), 5)
            groups.setdefault(key, (set(), set()))
            groups[key][0].add(res.station_id[row, r])
            groups[key][1].add(ids[row, r])
        last = round(float(dist[row, -1]), 5)
        for key, (got, want) in groups.items():
            if key == last:  # a tie at rank k may be cut at another station: same count, same distance
                assert len(got) == len(want), (row, got, want)
            else:
                assert got == want, (row, got, want)


def test_nearest_k_equals_brute_force():
    st = random_stations(3000, 1)
    idx = StationIndex.from_frame(st)
    lon, lat = queries(5000, 2)
    for k in (1, 3, 8):
        assert_same(nearest(idx, lon, lat, k=k), *brute(st, lon, lat, k))


def test_filters_combined_equal_brute_force():
    st = random_stations(2000, 3)
    idx = StationIndex.from_frame(st)
    lon, lat = queries(2000, 4)
    when = datetime(2026, 11, 24, 23, 30, tzinfo=SH)  # a Tuesday night: only 24h and 22:00-06:00 stations
    hours = [parse_hours(h) for h in st["hours_raw"]]
    open_now = np.array([h is not None and h.is_open(when) for h in hours])
    has_kind = np.array(["canteen" in ks or "driver_home" in ks for ks in st["kinds"]])
    has_amen = np.array([{"water", "toilet"} <= set(a) for a in st["amenities"]])
    res = nearest(idx, lon, lat, k=3, kind=["canteen", "司机之家"], amenity="water,如厕", open_at=when)
    assert_same(res, *brute(st, lon, lat, 3, has_kind & has_amen & open_now))
    assert 0 < (has_kind & has_amen & open_now).sum() < 200


def test_open_at_naive_time_is_shanghai_local():
    st = random_stations(500, 5)
    idx = StationIndex.from_frame(st)
    lon, lat = queries(50, 6)
    naive = nearest(idx, lon, lat, k=2, open_at=datetime(2026, 11, 23, 12, 0))
    utc = nearest(idx, lon, lat, k=2, open_at=datetime(2026, 11, 23, 4, 0, tzinfo=ZoneInfo("UTC")))
    assert (naive.station_id == utc.station_id).all()


def test_fewer_matches_than_k_are_padded():
    st = random_stations(200, 7)
    st["kinds"] = [["rest_point"] for _ in range(len(st))]
    st.at[5, "kinds"] = ["driver_home"]
    idx = StationIndex.from_frame(st)
    res = nearest(idx, [121.5], [31.2], k=3, kind="driver_home")
    assert res.station_id[0, 0] == "S5"
    assert res.station_id[0, 1] is None and np.isinf(res.distance_m[0, 1]) and res.slot[0, 2] == -1
    assert len(res.to_frame()) == 1


def test_edits_without_rebuild_equal_brute_force():
    st = random_stations(4000, 8)
    idx = StationIndex.from_frame(st)
    n_base = idx._n_base
    rng = np.random.default_rng(9)
    gone = list(rng.choice(st["id"], 60, replace=False))
    idx.delete(gone)
    moved = st.sample(40, random_state=1).copy()
    moved["lon"] += 0.05
    idx.upsert(moved)
    added = random_stations(50, 10, prefix="N")
    idx.upsert(added)
    assert idx._n_base == n_base  # no rebuild happened: answers come from base + delta + tombstones
    moved_alive = len(set(moved["id"]) - set(gone))  # tombstones: deleted + moved (a moved deleted one re-adds)
    assert idx.pending_edits == 60 + moved_alive + 40 + 50
    truth = pd.concat([st[~st["id"].isin(gone) & ~st["id"].isin(moved["id"])], moved, added])
    truth = truth[~truth["id"].isin(set(gone) - set(moved["id"]))]
    lon, lat = queries(3000, 11)
    assert_same(nearest(idx, lon, lat, k=5), *brute(truth, lon, lat, 5))
    assert_same(nearest(idx, lon, lat, k=2, kind="canteen"),
                *brute(truth, lon, lat, 2, np.array(["canteen" in k for k in truth["kinds"]])))


def test_compaction_when_edits_pile_up():
    st = random_stations(1000, 12)
    idx = StationIndex.from_frame(st)
    idx.compact_min = 10
    idx.delete(list(st["id"][:100]))
    lon, lat = queries(500, 13)
    res = nearest(idx, lon, lat, k=3)
    assert idx.pending_edits == 0 and idx._n_base == 900  # the query compacted first
    assert_same(res, *brute(st.iloc[100:], lon, lat, 3))


def test_gcj02_query_points_are_converted():
    st = random_stations(300, 14)
    idx = StationIndex.from_frame(st)
    lon, lat = queries(100, 15)
    g_lon, g_lat = coords.transform(lon, lat, src="wgs84", dst="gcj02")
    a = nearest(idx, g_lon, g_lat, k=2, crs="gcj02")
    b = nearest(idx, lon, lat, k=2)
    np.testing.assert_allclose(a.distance_m, b.distance_m, atol=1e-3)
    np.testing.assert_allclose(a.query_lon, lon, atol=1e-9)


def test_single_point_and_bad_input():
    st = random_stations(100, 16)
    idx = StationIndex.from_frame(st)
    res = nearest(idx, 121.5, 31.2, k=1)
    assert res.station_id.shape == (1, 1)
    with pytest.raises(ValueError, match="longitude"):
        nearest(idx, 181.0, 31.2)
    with pytest.raises(ValueError, match="differ in length"):
        nearest(idx, [121.5, 121.6], [31.2])
    with pytest.raises(ValueError, match="unknown kind"):
        nearest(idx, 121.5, 31.2, kind="spaceport")
    with pytest.raises(ValueError, match="unknown amenit"):
        nearest(idx, 121.5, 31.2, amenity="jacuzzi")
    with pytest.raises(ValueError, match="k must be"):
        nearest(idx, 121.5, 31.2, k=0)


def test_filter_accepts_chinese_labels():
    assert vocab.kinds().require("司机之家") == "driver_home"
    assert vocab.amenities().require("热饭") == "food_heating"


def test_real_anting_nearest_matches_brute_force(tmp_path, anting_json):
    from geomap.stations.registry import Registry
    reg = Registry(tmp_path / "r.gpkg")
    st, _ = reg.import_file(anting_json, profile="anting_miniprogram")
    lon, lat = np.random.default_rng(17).uniform(121.15, 121.26, 2000), np.random.default_rng(18).uniform(
        31.28, 31.33, 2000)
    assert_same(nearest(reg.index, lon, lat, k=3), *brute(st, lon, lat, 3))
    heat = np.array(["food_heating" in a for a in st["amenities"]])
    assert_same(nearest(reg.index, lon, lat, k=2, amenity="food_heating"), *brute(st, lon, lat, 2, heat))


def test_selection_key_names_exactly_one_station_set():
    """The key the network labels are cached under: equal for the same stations, new after any edit."""
    from geomap.stations.index import StationFilter

    st = random_stations(300, 21)
    idx = StationIndex.from_frame(st)
    canteen = StationFilter.make(kind="canteen")
    a, b = idx.selection(canteen), idx.selection(canteen)
    assert a is b  # memoised
    want = st[[("canteen" in k) for k in st["kinds"]]]
    assert list(a.ids) == list(want["id"]) and np.array_equal(a.lon, want["lon"].to_numpy())
    assert idx.selection(StationFilter()).key != a.key
    keys = {a.key}
    idx.upsert(st.iloc[[0]].assign(lon=st["lon"].iloc[0] + 0.01))  # a move
    keys.add(idx.selection(canteen).key)
    idx.delete([st["id"].iloc[1]])
    keys.add(idx.selection(canteen).key)
    idx.compact()
    keys.add(idx.selection(canteen).key)
    assert len(keys) == 4
    moved = idx.selection(StationFilter())
    assert moved.lon[list(moved.ids).index(st["id"].iloc[0])] == pytest.approx(st["lon"].iloc[0] + 0.01)
    # time-dependent filters are worked out each time, with a key of their own mask
    now = datetime(2026, 11, 23, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    night = idx.selection(StationFilter.make(open_at=now))
    day = idx.selection(StationFilter.make(open_at=now.replace(hour=12)))
    assert night.key != day.key and len(night.ids) < len(day.ids)
