"""The one-point path (geomap.network.routing_one) gives the array path's answers, on the real extract.

The array path is itself checked against networkx (tests/test_network_nearest.py); here every one-point
answer is compared with the same point answered in a batch of many (which takes the array path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from geomap import coords
from geomap.network.graph import StreetGraph, build_network
from geomap.network.nearest import network_nearest
from geomap.network.routing import SnapError, TargetIndex, snap_points
from geomap.network.routing_one import snap_one
from geomap.settings import get_settings

PBF = Path(__file__).resolve().parents[2] / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StreetGraph]:
    if not PBF.exists():
        pytest.skip(f"sample OSM extract missing: {PBF} (run `make data` with ../shared/data present)")
    return build_network(PBF, modes=["walk", "ebike", "drive"], progress=False,
                         cache_dir=tmp_path_factory.mktemp("cache"))


def _points(g: StreetGraph, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.uniform(g.node_lon.min(), g.node_lon.max(), n), rng.uniform(g.node_lat.min(), g.node_lat.max(), n))


@pytest.mark.parametrize("mode", ["walk", "ebike", "drive"])
def test_one_point_answers_equal_the_batch_answers(graphs: dict[str, StreetGraph], mode: str) -> None:
    g = graphs[mode]
    st_lon, st_lat = _points(g, 40, seed=7)
    # random points, plus points ~20 m from stations (the station on the query's own street: direct travel)
    r_lon, r_lat = _points(g, 600, seed=8)
    jit = np.random.default_rng(9).normal(0, 0.0002, (2, 40))
    q_lon, q_lat = np.concatenate([r_lon, st_lon + jit[0]]), np.concatenate([r_lat, st_lat + jit[1]])
    kw = dict(station_lon=st_lon, station_lat=st_lat, station_ids=[f"S{i}" for i in range(40)], k=5)
    batch = network_nearest(g, query_lon=q_lon, query_lat=q_lat, on_far="skip", **kw)
    batch_snap = snap_points(g, q_lon, q_lat, errors="ignore")
    same_street = compared = far = ties = 0
    for i in range(len(q_lon)):
        if not batch.query_ok[i]:
            with pytest.raises(SnapError) as exc:
                network_nearest(g, query_lon=q_lon[i], query_lat=q_lat[i], **kw)
            assert exc.value.distance_m[0] == pytest.approx(batch.query_snap_m[i], abs=1e-6)
            far += 1
            continue
        one = network_nearest(g, query_lon=q_lon[i], query_lat=q_lat[i], **kw)
        # both find the nearest street piece: the same distance (a junction is nearest to several streets)
        assert one.query_snap_m[0] == pytest.approx(batch.query_snap_m[i], abs=1e-6)
        mine = snap_one(g, q_lon[i], q_lat[i], max_snap_m=get_settings().max_snap_m)
        if mine.street != batch_snap.street[i]:
            # a tie: the nearest point of the network is a junction, where several streets meet; both
            # paths stand at that junction, on different streets
            assert (mine.lon, mine.lat) == pytest.approx((batch_snap.lon[i], batch_snap.lat[i]), abs=1e-9)
            assert mine.fraction in (0.0, 1.0) or batch_snap.fraction[i] in (0.0, 1.0)
            # standing on the junction, either street gives the same times (routing.end_access)
            np.testing.assert_allclose(one.travel_s[0], batch.travel_s[i], rtol=1e-9, atol=1e-6)
            ties += 1
            continue
        same_street += 1
        np.testing.assert_array_equal(one.station_id[0], batch.station_id[i])
        np.testing.assert_allclose(one.travel_s[0], batch.travel_s[i], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(one.distance_m[0], batch.distance_m[i], rtol=1e-12, atol=1e-6)
        for a, b in zip(one.route[0], batch.route[i], strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                assert shapely.hausdorff_distance(a, b) < 1e-9  # degrees
                assert len(a.coords) == len(b.coords)
                compared += 1
    assert far > 0 and same_street > 0.8 * (len(q_lon) - far) and same_street + ties == len(q_lon) - far
    assert compared > 1000


def test_one_point_routes_in_gcj02_and_bd09(graphs: dict[str, StreetGraph]) -> None:
    """Routes asked in GCJ-02 / BD-09 are the WGS84 routes converted vertex by vertex."""
    g = graphs["ebike"]
    st_lon, st_lat = _points(g, 20, seed=3)
    q_lon, q_lat = _points(g, 80, seed=4)
    kw = dict(station_lon=st_lon, station_lat=st_lat, k=3)
    checked = 0
    for lon, lat in zip(q_lon, q_lat, strict=True):
        try:
            wgs = network_nearest(g, query_lon=lon, query_lat=lat, **kw)
        except SnapError:
            continue
        for crs in ("gcj02", "bd09"):
            other = network_nearest(g, query_lon=lon, query_lat=lat, route_crs=crs, **kw)
            for a, b in zip(wgs.route[0], other.route[0], strict=True):
                if a is None:
                    assert b is None
                    continue
                xy = np.asarray(a.coords)
                want = np.column_stack(coords.from_wgs84(xy[:, 0], xy[:, 1], dst=crs))
                np.testing.assert_allclose(np.asarray(b.coords), want, rtol=0, atol=1e-12)
                checked += 1
    # the array path converts the same way
    many = network_nearest(g, query_lon=q_lon, query_lat=q_lat, on_far="skip", route_crs="gcj02", **kw)
    base = network_nearest(g, query_lon=q_lon, query_lat=q_lat, on_far="skip", **kw)
    for a, b in zip(base.route.ravel(), many.route.ravel(), strict=True):
        if a is not None:
            xy = np.asarray(a.coords)
            np.testing.assert_allclose(np.asarray(b.coords),
                                       np.column_stack(coords.from_wgs84(xy[:, 0], xy[:, 1], dst="gcj02")), atol=1e-12)
    assert checked > 100


_ALIAS = {"wgs84": "EPSG:4326", "gcj02": "GCJ-02", "bd09": "BD-09"}


@pytest.mark.parametrize(("mode", "k", "crs", "decimals"),
                         [("walk", 5, "wgs84", None), ("ebike", 3, "gcj02", 7), ("drive", 1, "bd09", 6)])
def test_one_call_path_equals_the_steps(graphs: dict[str, StreetGraph], mode: str, k: int, crs: str,
                                        decimals: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """answer_one (snapping, labels and routes in one compiled call) gives exactly what snap_one,
    query_one and routes_one give step by step; the second look at each point takes the one-call path
    (its grid cell is filled by then), which the test makes sure of by failing the steps on that look."""
    import geomap.network.routing_one as r1
    from geomap.network.nearest import station_index

    g = graphs[mode]
    st_lon, st_lat = _points(g, 30, seed=21)
    index, _ = station_index(g, station_lon=st_lon, station_lat=st_lat, k=max(k, 2) if k > 1 else 1)
    q_lon, q_lat = _points(g, 300, seed=22)
    limit = get_settings().max_snap_m
    compared = routes = 0
    for lon, lat in zip(q_lon.tolist(), q_lat.tolist(), strict=True):
        try:
            snap = r1.snap_one(g, lon, lat, max_snap_m=limit)
        except SnapError:
            with pytest.raises(SnapError):
                r1.answer_one(index, lon, lat, k=k, max_snap_m=limit)
            continue
        tj, ts, dm, via = r1.query_one(index, snap.street, snap.fraction, k)
        want = r1.routes_one(index, snap, tj, via, crs=crs, decimals=decimals)
        with monkeypatch.context() as m:
            m.setattr(r1, "snap_one", None)  # the one-call path must not fall back to the steps
            got = r1.answer_one(index, lon, lat, k=k, max_snap_m=limit, crs=crs, decimals=decimals)
        assert got.snap == snap
        assert (got.targets, got.travel_s, got.distance_m) == (tj, ts, dm)
        assert got.routes is not None and len(got.routes) == len(want)
        for a, b in zip(got.routes, want, strict=True):
            np.testing.assert_array_equal(a, b)
            routes += 1
        no_routes = r1.answer_one(index, lon, lat, k=k, max_snap_m=limit, routes=False)
        assert no_routes.routes is None and no_routes.targets == tj
        by_alias = r1.answer_one(index, lon, lat, k=k, max_snap_m=limit, crs=_ALIAS[crs], decimals=decimals)
        assert by_alias.routes is not None
        for a, b in zip(by_alias.routes, want, strict=True):
            np.testing.assert_array_equal(a, b)
        compared += 1
    assert compared > 200 and routes > 200
    tables = index.__dict__["_answer_tables"]  # an alias shares the arrays gathered for its system
    assert tables[_ALIAS[crs]][-1] is tables[crs][-1]


@pytest.mark.parametrize("src", ["gcj02", "bd09"])
def test_one_call_converts_the_point_inside_the_compiled_call(tmp_path: Path, src: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """one_call(src=...) takes the point in GCJ-02 / BD-09 and converts it inside the compiled call: the
    same answer as answer_one on the WGS84 point from coords.to_wgs84_point, both on the first look at a
    point (a fresh graph: the step-by-step path, which converts in Python) and on the second, which must
    take the one-call path (the steps are disabled for it)."""
    import geomap.network.routing_one as r1
    from geomap.network.nearest import station_index

    g = build_network(PBF, modes=["ebike"], progress=False, cache_dir=tmp_path)["ebike"]  # unfilled grid
    st_lon, st_lat = _points(g, 20, seed=31)
    index, _ = station_index(g, station_lon=st_lon, station_lat=st_lat, k=3)
    ask = r1.one_call(index, crs="gcj02", decimals=7, src=src)
    limit = get_settings().max_snap_m
    q_lon, q_lat = _points(g, 120, seed=32)
    s_lon, s_lat = coords.from_wgs84(q_lon, q_lat, dst=src)
    compared = 0
    for x, y in zip(s_lon.tolist(), s_lat.tolist(), strict=True):
        w_lon, w_lat = coords.to_wgs84_point(x, y, src=src)
        for look in range(2):
            try:
                with monkeypatch.context() as m:
                    if look:  # the first look filled the point's grid cell
                        m.setattr(r1, "snap_one", None)
                    got = ask(x, y, 3, limit, True)
            except SnapError:
                with pytest.raises(SnapError):
                    r1.answer_one(index, w_lon, w_lat, k=3, max_snap_m=limit, crs="gcj02", decimals=7)
                break
            want = r1.answer_one(index, w_lon, w_lat, k=3, max_snap_m=limit, crs="gcj02", decimals=7)
            assert (got.snap, got.targets, got.travel_s, got.distance_m) == (
                want.snap, want.targets, want.travel_s, want.distance_m)
            for a, b in zip(got.routes, want.routes, strict=True):
                np.testing.assert_array_equal(a, b)
            compared += 1
    assert compared > 100


@pytest.mark.parametrize("crs", ["wgs84", "gcj02"])
def test_one_call_geojson_routes_are_the_arrays_as_text(tmp_path: Path, crs: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """route_format="geojson": each route is the GeoJSON text of the route arrays (parsed, the very same
    rounded floats; byte for byte what orjson writes for them), on the first look at a point (a fresh
    graph: the step-by-step path) and on the second, which must take the one-call path (steps disabled);
    the answers besides the routes are the same as route_format="xy"."""
    import orjson

    import geomap.network.routing_one as r1
    from geomap.network.nearest import station_index

    g = build_network(PBF, modes=["ebike"], progress=False, cache_dir=tmp_path)["ebike"]  # unfilled grid
    st_lon, st_lat = _points(g, 20, seed=41)
    index, _ = station_index(g, station_lon=st_lon, station_lat=st_lat, k=3)
    ask = r1.one_call(index, crs=crs, decimals=7, route_format="geojson")
    limit = get_settings().max_snap_m
    q_lon, q_lat = _points(g, 80, seed=42)
    compared = 0
    for x, y in zip(q_lon.tolist(), q_lat.tolist(), strict=True):
        for look in range(2):
            try:
                with monkeypatch.context() as m:
                    if look:
                        m.setattr(r1, "snap_one", None)
                    got = ask(x, y, 3, limit, True)
            except SnapError:
                break
            want = r1.answer_one(index, x, y, k=3, max_snap_m=limit, crs=crs, decimals=7)
            assert (got.snap, got.targets, got.travel_s, got.distance_m) == (
                want.snap, want.targets, want.travel_s, want.distance_m)
            assert len(got.routes) == len(want.routes)
            for text, xy in zip(got.routes, want.routes, strict=True):
                assert isinstance(text, bytes)
                assert orjson.loads(text) == {"type": "LineString", "coordinates": xy.tolist()}
                assert text == orjson.dumps({"type": "LineString", "coordinates": xy},
                                            option=orjson.OPT_SERIALIZE_NUMPY)
            assert ask(x, y, 3, limit, False).routes is None
            compared += 1
    assert compared > 60
    with pytest.raises(ValueError, match="needs decimals"):
        r1.one_call(index, route_format="geojson")
    with pytest.raises(ValueError, match="route_format must be"):
        r1.one_call(index, decimals=7, route_format="wkt")  # type: ignore[arg-type]


def _index_and_vertices(g: StreetGraph, *, stations: int, points: int, k: int, seed: int
                        ) -> tuple[TargetIndex, list[tuple[float, float]]]:
    """A label index of ``stations`` random stations, and ``points`` street vertices to ask from (always
    within reach of a street)."""
    from geomap.network.nearest import station_index

    st_lon, st_lat = _points(g, stations, seed=seed)
    index, _ = station_index(g, station_lon=st_lon, station_lat=st_lat, k=k)
    pick = np.random.default_rng(seed + 1).integers(0, len(g.geom_lon), points)
    return index, list(zip(g.geom_lon[pick].tolist(), g.geom_lat[pick].tolist(), strict=True))


def test_prepared_tables_survive_copy_and_pickle(graphs: dict[str, StreetGraph]) -> None:
    """The one-call path's tables (a numba structure on the label index) are rebuilt from their arrays when
    the index is deep-copied or pickled, as the service's and the tests' copies of a registry index do; the
    copy answers as the original."""
    import copy
    import pickle

    import geomap.network.routing_one as r1

    index, q = _index_and_vertices(graphs["walk"], stations=12, points=30, k=2, seed=51)
    limit = get_settings().max_snap_m
    ask = r1.one_call(index, crs="gcj02", decimals=7)
    want = [ask(x, y, 2, limit, True) for x, y in q]
    assert r1._prepared(index, "gcj02") is not None
    for twin in (copy.deepcopy(index), pickle.loads(pickle.dumps(index))):
        assert twin.__dict__["_answer_tables"]["gcj02"][-1][-1] is not index.__dict__["_answer_tables"]["gcj02"][-1][-1]
        ask2 = r1.one_call(twin, crs="gcj02", decimals=7)
        got = [ask2(x, y, 2, limit, True) for x, y in q]
        for a, b in zip(got, want, strict=True):
            assert (a.snap, a.targets, a.travel_s, a.distance_m) == (b.snap, b.targets, b.travel_s, b.distance_m)
            for ra, rb in zip(a.routes, b.routes, strict=True):
                np.testing.assert_array_equal(ra, rb)


def test_the_kernel_wrapper_passes_every_table_in_order() -> None:
    """_answer unpacks its _Tables by name for _answer_flat: the names it passes are exactly the flat
    kernel's table parameters, in order (a swap of two same-typed arrays would still compile)."""
    import inspect
    import re

    import geomap.network.routing_one as r1

    passed = re.findall(r"\bt\.(\w+)", inspect.getsource(r1._answer.py_func))
    assert tuple(passed) == r1._TABLE_FIELDS
    assert len(r1._TABLE_FIELDS) == len(inspect.signature(r1._answer_flat.py_func).parameters) - r1._CALL_ARGS


def test_compiled_answer_gets_the_types_it_was_compiled_for(graphs: dict[str, StreetGraph]) -> None:
    """ask calls the machine-code _answer directly (no numba dispatch), which reads its arguments as the
    types it was compiled for: every call's arguments, in both route formats and after the output buffers
    grew, have exactly those types (numba's own typing of them picks the same compiled function)."""
    import geomap.network.routing_one as r1

    index, q = _index_and_vertices(graphs["ebike"], stations=10, points=20, k=3, seed=61)
    limit = get_settings().max_snap_m
    asks = {fmt: r1.one_call(index, crs="gcj02", decimals=7, route_format=fmt) for fmt in ("xy", "geojson")}
    for ask in asks.values():
        for x, y in q:
            ask(x, y, 3, limit, True)  # fills the grid around the points: the tables are final for them
    tables = r1._prepared(index, "gcj02")[1]
    real, calls = tables.compiled, []

    def recording(*args: object) -> tuple:
        calls.append(args)
        return real(*args)

    tables.compiled = recording
    saved = r1._BUFFERS.arrays
    try:
        r1._BUFFERS.arrays = r1._Buffers._make(1, 1, 1)  # too small: the first call grows them
        for ask in asks.values():
            for x, y in q:
                for routes in (True, False):
                    ask(x, y, 3, limit, routes)
    finally:
        r1._BUFFERS.arrays = saved
        tables.compiled = real
    assert len(calls) >= 80 and any(a[11].shape == (2, 1) for a in calls)  # some calls with the tiny buffers
    for args in calls:
        sig = tuple(r1._answer.typeof_pyval(a) for a in args)
        assert r1._answer.get_overload(sig) is real


def test_one_call_output_buffers_grow_and_are_per_thread(graphs: dict[str, StreetGraph]) -> None:
    """The compiled call copies its answer into per-thread buffers: answers through buffers too small for
    them (grown on the way) and answers asked from several threads at once equal those asked one by one."""
    import sys
    import threading

    import geomap.network.routing_one as r1

    index, q = _index_and_vertices(graphs["walk"], stations=15, points=60, k=5, seed=71)
    limit = get_settings().max_snap_m
    ask = r1.one_call(index, crs="wgs84", decimals=7, route_format="geojson")
    want = [ask(x, y, 5, limit, True) for x, y in q]
    saved = r1._BUFFERS.arrays
    try:
        r1._BUFFERS.arrays = r1._Buffers._make(2, 3, 10)
        assert [ask(x, y, 5, limit, True) for x, y in q] == want
        assert r1._BUFFERS.arrays[0].shape[1] >= 5 and r1._BUFFERS.arrays[3].size >= max(
            sum(map(len, w.routes)) for w in want)
    finally:
        r1._BUFFERS.arrays = saved
    got: dict[int, list] = {}

    def work(t: int) -> None:
        got[t] = [ask(x, y, 5, limit, True) for _ in range(5) for x, y in q]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch often: a buffer shared by threads is overwritten before it is read
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert all(got[t] == want * 5 for t in range(4))
