"""Nearest stations along the street network: travel time, distance and the route to ride.

Coordinates are WGS84 longitude/latitude in degrees; ``travel_s`` seconds; ``distance_m`` metres along
the network. The travel direction is *from the query point to the station* (one-way streets honoured).

A station set's :class:`~geomap.network.labels.Labels` (every node's k quickest stations, see
``docs/network.md``) are found, in order: in memory on the graph (by the caller's key for the set, or by
content); on disk beside the graph's cache (memory-mapped; only for sets the caller marks ``persist``);
derived from a cached set that differs by a few stations (removals and additions repaired in place: an
edit to the registry costs a bounded search, not a rebuild); else built (one bounded search). A query is
then a snap plus a compiled look-up; one point is a batch of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from geomap import npy
from geomap.network.graph import StreetGraph
from geomap.network.labels import Labels, build_labels, content_key
from geomap.network.query import Answer, answer
from geomap.network.routing import Snapped, snap_points
from geomap.settings import get_settings

__all__ = ["NetworkNearest", "StationLabels", "network_nearest", "station_labels"]

_MAX_IN_MEMORY = 8
"""Label sets kept in memory per graph (the unfiltered set and the filters in use)."""
_MAX_ON_DISK = 8
"""Label sets kept on disk per graph (the oldest are deleted)."""
_DERIVE_AT_MOST = 0.05
"""A set is derived from a cached one when the stations removed and added are at most this share of it
(and at least 64): each is a bounded search, a fresh build is one search over everything."""


@dataclass(frozen=True, eq=False)
class StationLabels:
    """The labels of one station set and, per label slot, the position of that station in the arrays the
    caller passed (-1 for slots of stations no longer in the set)."""

    labels: Labels
    position: npt.NDArray[np.int64]
    snapped: Snapped
    """The stations' snaps in the caller's order (``ok`` False: farther than ``max_snap_m`` from every
    street, never returned)."""

    @functools.cached_property
    def off_network(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Positions (caller's order) of the stations no street reaches, and their distance to the nearest
        street (m): computed once per set, not per query."""
        off = np.flatnonzero(~self.snapped.ok)
        return off, np.asarray(self.snapped.distance_m, dtype=np.float64)[off]


@dataclass
class NetworkNearest:
    """Answer of :func:`network_nearest`; arrays of shape ``(n_queries, k)``, rank 0 the quickest.

    ``station_id`` (object array; None where no station is reachable), ``station_pos`` (position in the
    station arrays passed in, -1 for none), ``travel_s`` (inf for none), ``distance_m`` (network metres),
    ``query_snap_m`` (straight-line metres from each query point to the network), ``query_ok`` (the query
    point was within ``max_snap_m`` of a street), ``answer`` (the compiled call's answer: routes'
    vertices, query points in WGS84). :attr:`route`: LineStrings in ``route_crs`` from the query's snapped
    position to the station's, or None (made when first asked for).
    """

    station_id: npt.NDArray[np.object_]
    station_pos: npt.NDArray[np.int64]
    travel_s: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]
    query_snap_m: npt.NDArray[np.float64]
    query_ok: npt.NDArray[np.bool_]
    answer: Answer
    off_network_pos: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Positions (in the station arrays passed in) of the stations farther than ``max_snap_m`` from every
    street: never answered along the streets (a caller says so instead of dropping them silently)."""
    off_network_m: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    """Their distance to the nearest street (metres; inf when none within the search)."""

    @property
    def route(self) -> npt.NDArray[np.object_] | None:
        return self.answer.routes()

    def to_frame(self) -> Any:
        """Long table, one row per (query, rank): a GeoDataFrame (EPSG:4326) with the route geometry."""
        import geopandas as gpd

        q, k = self.travel_s.shape
        data = {
            "query": np.repeat(np.arange(q), k),
            "rank": np.tile(np.arange(k), q),
            "station_id": self.station_id.ravel(),
            "travel_s": self.travel_s.ravel(),
            "distance_m": self.distance_m.ravel(),
            "query_snap_m": np.repeat(self.query_snap_m, k),
        }
        route = self.route
        geom = route.ravel() if route is not None else np.full(q * k, None, dtype=object)
        return gpd.GeoDataFrame(data, geometry=list(geom), crs="EPSG:4326")


def _limit_s(limit_s: float | None) -> float:
    return float(get_settings().label_limit_minutes * 60.0 if limit_s is None else limit_s)


def _snap_m(max_snap_m: float | None) -> float:
    return float(get_settings().max_snap_m if max_snap_m is None else max_snap_m)


_MEMO_LOCK = threading.Lock()
"""Guards the label sets kept in memory on the graphs: a service reads an edit in on a thread of its own
(:meth:`geomap.api.state.ServiceState.follow`) while requests look sets up."""


def station_labels(
    graph: StreetGraph,
    *,
    station_lon: npt.ArrayLike,
    station_lat: npt.ArrayLike,
    station_ids: npt.ArrayLike | None = None,
    k: int = 1,
    limit_s: float | None = None,
    max_snap_m: float | None = None,
    station_key: str | None = None,
    persist: bool = False,
) -> StationLabels:
    """The labels of a station set on ``graph`` (see the module docstring for where they come from).

    Stations farther than ``max_snap_m`` from every street are left out (``snapped.ok`` and
    ``snapped.distance_m`` say which and how far). ``limit_s`` (default ``settings.label_limit_minutes``):
    nothing farther is searched. ``station_key``: a name the caller guarantees for exactly these stations
    (ids, coordinates, order), e.g. :meth:`geomap.stations.index.StationIndex.selection`'s key; without it
    the arrays are hashed. ``persist``: keep the labels on disk beside the graph's cache (a set that will
    be asked again after a restart: the unfiltered stations); needs a graph loaded from a cache folder.
    Cached sets with more labels per node serve a smaller ``k``.
    """
    limit, snap = _limit_s(limit_s), _snap_m(max_snap_m)
    memo: OrderedDict[str, StationLabels] = graph.__dict__.setdefault("_station_labels", OrderedDict())
    named = None if station_key is None else f"{station_key};k={k};limit={limit!r};snap={snap!r}"
    with _MEMO_LOCK:
        hit = None if named is None else memo.get(named)
        if hit is not None:
            memo.move_to_end(named)
            return hit
    lon = np.atleast_1d(np.asarray(station_lon, dtype=np.float64))
    lat = np.atleast_1d(np.asarray(station_lat, dtype=np.float64))
    ids = np.arange(len(lon)) if station_ids is None else np.atleast_1d(np.asarray(station_ids, dtype=object))
    if not (len(lon) == len(lat) == len(ids)):
        raise ValueError("station_lon, station_lat and station_ids must have the same length")
    key = content_key(graph, lon, lat, ids, k=k, limit_s=limit, max_snap_m=snap)
    with _MEMO_LOCK:
        hit = memo.get(key)
        in_memory = list(reversed(dict.fromkeys(memo.values())))  # newest first
    hit = hit or _from_disk(graph, key, lon, lat, ids, snap)
    derived = False
    if hit is None:
        bases = [*in_memory, *(_on_disk(graph) if persist else [])]
        hit = _derived(graph, bases, lon, lat, ids, k=k, limit=limit, snap=snap)
        derived = hit is not None
    if hit is None:
        with _building(graph, key if persist else None):  # another worker building it: wait, then read it
            hit = _from_disk(graph, key, lon, lat, ids, snap) if persist else None
            if hit is None:
                snapped = snap_points(graph, lon, lat, max_snap_m=snap, errors="ignore")
                lab = build_labels(graph, snapped, k=k, limit_s=limit, ids=ids)
                lab.source_lon, lab.source_lat, lab.max_snap_m = lon.copy(), lat.copy(), snap
                hit = StationLabels(labels=lab, position=np.arange(len(lon), dtype=np.int64), snapped=snapped)
                if persist:
                    _to_disk(graph, key, hit, background=False)
    if persist:
        _to_disk(graph, key, hit, background=derived)
    with _MEMO_LOCK:
        memo[key] = hit
        memo.move_to_end(key)
        if named is not None:
            memo[named] = hit
        while len(memo) > 2 * _MAX_IN_MEMORY:
            memo.popitem(last=False)
    return hit


def _derived(graph: StreetGraph, bases: list[StationLabels], lon: Any, lat: Any, ids: Any, *,
             k: int, limit: float, snap: float) -> StationLabels | None:
    """The labels of these stations from a set among ``bases`` (in memory, then on disk) with the same k,
    limit and snapping distance that differs by a few: stations gone or moved are removed, new or moved
    ones added, in place on a copy."""
    import pandas as pd

    index = pd.Index(ids)
    if not index.is_unique:
        return None  # duplicate ids: no identity to follow
    best: tuple[int, StationLabels, npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None
    for cand in bases:
        lab = cand.labels
        if lab.k != k or lab.limit_s != limit or lab.max_snap_m != snap or lab.source_lon is None:
            continue
        alive = np.flatnonzero(lab.alive)
        pos = index.get_indexer(lab.ids[alive])  # -1: no longer in the set
        same = pos >= 0
        same[same] &= (lon[pos[same]] == lab.source_lon[alive[same]]) & (lat[pos[same]] == lab.source_lat[alive[same]])
        kept = np.zeros(len(ids), dtype=bool)
        kept[pos[same]] = True
        remove, add = alive[~same], np.flatnonzero(~kept)
        cost = len(remove) + len(add)
        if cost <= max(64, _DERIVE_AT_MOST * len(ids)) and (best is None or cost < best[0]):
            best = (cost, cand, remove, add)
    if best is None:
        return None
    _, base, remove, add = best
    more = snap_points(graph, lon[add], lat[add], max_snap_m=snap, errors="ignore")
    lab = base.labels.with_changes(remove=remove, add=more, add_ids=ids[add])
    lab.source_lon = np.concatenate([base.labels.source_lon, lon[add]])
    lab.source_lat = np.concatenate([base.labels.source_lat, lat[add]])
    position = np.full(lab.n_slots, -1, dtype=np.int64)
    alive = np.flatnonzero(lab.alive)
    position[alive] = index.get_indexer(lab.ids[alive])
    snapped = _reorder(lab.targets, position, len(ids))
    return StationLabels(labels=lab, position=position, snapped=snapped)


def _reorder(targets: Snapped, position: npt.NDArray[np.int64], n: int) -> Snapped:
    """The snaps of the live slots, put back in the caller's order."""
    live = np.flatnonzero(position >= 0)
    order = np.empty(n, dtype=np.int64)
    order[position[live]] = live
    return targets.take(order)


def _labels_dir(graph: StreetGraph) -> Path | None:
    """The folder of ``graph``'s label sets, beside its cache (one per graph: modes keep theirs apart)."""
    cache = graph.__dict__.get("_cache_dir")
    return None if cache is None or not graph.cache_key else Path(cache) / f"labels_{graph.cache_key[:20]}"


@contextlib.contextmanager
def _building(graph: StreetGraph, key: str | None) -> Iterator[None]:
    """Hold the file lock of label set ``key`` of ``graph`` (None, or a graph without a cache folder: no
    lock). Service workers starting together build each set once: the others wait and load it."""
    folder = _labels_dir(graph)
    if key is None or folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key[:32]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _load(graph: StreetGraph, path: Path) -> StationLabels | None:
    try:
        lab = Labels.load(path, graph)
        position = npy.load(path / "position.npy")
    except (OSError, ValueError, KeyError):
        return None
    return StationLabels(labels=lab, position=position,
                         snapped=_reorder(lab.targets, position, int((position >= 0).sum())))


def _from_disk(graph: StreetGraph, key: str, lon: Any, lat: Any, ids: Any, snap: float) -> StationLabels | None:
    folder = _labels_dir(graph)
    path = None if folder is None else folder / key[:32]
    if path is None or not path.exists():
        return None
    hit = _load(graph, path)
    if hit is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept longest
    return hit


def _on_disk(graph: StreetGraph) -> list[StationLabels]:
    """The label sets kept on disk for ``graph``, newest first (bases to derive a set from after a restart:
    the registry was edited since its labels were last written)."""
    folder = _labels_dir(graph)
    if folder is None or not folder.exists():
        return []
    found = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return [hit for hit in (_load(graph, p) for p in found[:3]) if hit is not None]


SAVE_AFTER_S = 30.0
"""A set derived after an edit is written this long after the last edit of the graph's sets (edits come
in bursts; each set of a million-node city is ~100 MB, and a restart derives from the last one written)."""


def _to_disk(graph: StreetGraph, key: str, hit: StationLabels, *, background: bool) -> None:
    """Keep a set's labels (and their slots' positions) beside the graph's cache, and no more than
    :data:`_MAX_ON_DISK` sets per graph. A built set is written now; a derived one (after an edit) by a
    timer :data:`SAVE_AFTER_S` after the graph's last edit, in the background."""
    folder = _labels_dir(graph)
    if folder is None or (folder / key[:32]).exists():
        return

    def write() -> None:
        if (folder / key[:32]).exists():
            return
        hit.labels.key = key
        hit.labels.save(folder / key[:32], extra={"position": hit.position})
        old = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
                     key=lambda p: p.stat().st_mtime)
        for p in old[:-_MAX_ON_DISK]:
            shutil.rmtree(p, ignore_errors=True)
            (p.parent / f"{p.name}.lock").unlink(missing_ok=True)

    if not background:
        write()
        return
    pending = graph.__dict__.get("_labels_timer")
    if pending is not None:
        pending.cancel()
    timer = threading.Timer(SAVE_AFTER_S, write)
    timer.daemon = True
    graph.__dict__["_labels_timer"] = timer
    timer.start()


def network_nearest(
    graph: StreetGraph,
    *,
    station_lon: npt.ArrayLike,
    station_lat: npt.ArrayLike,
    station_ids: npt.ArrayLike | None = None,
    query_lon: npt.ArrayLike,
    query_lat: npt.ArrayLike,
    k: int = 1,
    return_routes: bool = True,
    limit_s: float | None = None,
    max_snap_m: float | None = None,
    on_far: Literal["raise", "skip"] = "raise",
    index_k: int | None = None,
    station_key: str | None = None,
    route_crs: str = "wgs84",
    persist: bool = False,
    crs: str = "wgs84",
) -> NetworkNearest:
    """The ``k`` stations quickest to reach from each query point along ``graph`` (WGS84 degrees).

    Exact: equal to a Dijkstra from each snapped query point to every snapped station (partial streets at
    both ends; a station on the query's own street is reached directly along it where the direction
    allows), within ``limit_s`` (default ``settings.label_limit_minutes``; farther stations are
    unreachable). Query points farther than ``max_snap_m`` (default ``settings.max_snap_m``) from every
    street raise :class:`~geomap.network.routing.SnapError` (message in Chinese and English, with the
    distance), or, with ``on_far="skip"``, get no station (``query_ok`` False). Unreachable stations
    give ``travel_s = inf`` and ``station_id = None``. ``index_k`` (≥ ``k``, default ``k``): labels kept
    per node, so that one label set serves every ``k`` up to it. ``station_key``, ``persist``: see
    :func:`station_labels`. ``crs``: coordinate system of the query points; ``route_crs``: of the routes
    (wgs84, gcj02 or bd09; the other outputs stay WGS84). One compiled call answers all the points
    (:func:`geomap.network.query.answer`).
    """
    index_k = k if index_k is None else max(int(index_k), k)
    sl = station_labels(graph, station_lon=station_lon, station_lat=station_lat, station_ids=station_ids,
                        k=index_k, limit_s=limit_s, max_snap_m=max_snap_m, station_key=station_key,
                        persist=persist)
    ans = answer(sl.labels, query_lon, query_lat, k=k, crs=crs, route_crs=route_crs if return_routes else None,
                 max_snap_m=_snap_m(max_snap_m), errors="raise" if on_far == "raise" else "ignore")
    slot = ans.slot
    none = slot < 0
    pos = slot
    if sl.labels.n_slots:
        pos = sl.position[slot]  # slot -1 reads the last position: set to -1 below
        pos[none] = -1
    none |= pos < 0
    ids = np.arange(len(sl.position)) if station_ids is None else np.atleast_1d(np.asarray(station_ids, dtype=object))
    sid = ids[pos] if len(ids) else np.full(pos.shape, None, dtype=object)  # -1 reads the last: None below
    if sid.dtype != object:
        sid = sid.astype(object)
    sid[none] = None
    off, off_m = sl.off_network
    return NetworkNearest(station_id=sid, station_pos=pos, travel_s=ans.travel_s, distance_m=ans.distance_m,
                          query_snap_m=ans.snap_m, query_ok=ans.ok, answer=ans, off_network_pos=off,
                          off_network_m=off_m)
