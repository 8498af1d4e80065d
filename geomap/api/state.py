"""What the service loads once at start and shares between requests: registry, graphs, station snapshot.

Concurrency model (one event loop per worker process; ``geomap serve --workers N`` runs N processes,
each with its own copy of everything below):

* **The registry file is the truth.** A worker serves a :class:`Snapshot` (station index + records) of
  the registry as it was at some moment. A thread of each worker (:meth:`ServiceState.follow`) looks every
  50 ms whether anything committed since (:class:`RegistryWatch`: the file's change counter, about 1 µs)
  and reads it in at once, so every worker starts on an edit as soon as it is committed; every request
  that reads stations looks too (under the same lock, waiting for a read-in under way) before answering.
  An edit made through any worker (or by ``geomap import`` on the command line) is therefore seen by every
  worker's next request; no worker answers from a registry state older than one it could observe.
* **Readers** (``/stations``, ``/nearest`` …) run on the event loop and take one snapshot per request
  (:meth:`ServiceState.current`); a snapshot is never changed once served, so a reader sees the stations
  entirely before or entirely after an edit.
* **Writers** (admin endpoints) are serialised within a worker by an ``asyncio.Lock`` and across workers
  by SQLite's write lock. The registry transaction (SQLite with ``synchronous=FULL``) runs in a worker
  thread; after it has committed, the writer reloads (:meth:`ServiceState.current`) and answers from the
  new snapshot, so its own change is visible in its answer and in every later request.
* The network-nearest labels (:mod:`geomap.network.nearest`) are cached per station set; a reload builds
  the new unfiltered labels for every mode before the snapshot is swapped in, so the first reader after
  an edit does not pay for them. Those caches live on the graphs, shared by the event loop and the
  follower under a lock (``geomap.network.nearest._MEMO_LOCK``).
* Service circles (``/isochrones``) are slower (≈0.1 s) and run in a worker thread under
  ``iso_lock``; they read graph arrays built at start (snapping index, buffer tree), not the station
  snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geomap.network.graph import MODES, StreetGraph
from geomap.settings import Settings
from geomap.stations.index import StationFilter, StationIndex
from geomap.stations.registry import Registry
from geomap.stations.schema import Station
from geomap.workspace import NoNetworkError, Workspace

log = logging.getLogger("geomap.api")

_ALL = StationFilter()

LABEL_K = 5
"""k of the cached network-nearest labels; queries with k ≤ 5 share one index per station set."""

_EDITS: Any = None
"""With ``geomap serve``: ``(counter, lock)``, a count of the writes committed through the service, in memory
its worker processes share (:func:`share_edits`). While it has not moved, a request answers from its
snapshot without looking at the registry file; edits made outside the service (``geomap import``) are
read in by the follower (:meth:`ServiceState.follow`) within ``FOLLOW_S``."""


def share_edits(counter: Any, lock: Any) -> None:
    """Count the writes through this process's service in ``counter`` (a ``multiprocessing.RawValue``),
    moved on under ``lock`` (:data:`_EDITS`)."""
    global _EDITS
    _EDITS = (counter, lock)


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the stations: the index (WGS84 arrays) and the records by id."""

    version: int
    index: StationIndex
    stations: Mapping[str, Station]
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Per-station answer parts worked out once for this snapshot (see :func:`geomap.api.read.station_view`)."""

    def ids(self) -> list[str]:
        return list(self.stations)


@dataclass
class ServiceState:
    """Everything a request needs; held in ``app.state.geomap``."""

    workspace: Workspace
    registry: Registry
    graphs: dict[str, StreetGraph]
    snapshot: Snapshot
    watch: RegistryWatch | None = None
    started_at: float = field(default_factory=time.time)
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    iso_lock: threading.Lock = field(default_factory=threading.Lock)
    cache: dict[Any, Any] = field(default_factory=dict)
    map_html: str | None = None
    map_version: int = 0
    map_building: bool = False
    map_render: Any = None
    """The function the map process renders ``GET /map`` with, ``(root, mode) -> html`` (module level, picklable);
    None: a place's (:func:`geomap.api.map_build.render_in_child`). A regions service sets its own."""
    map_lock: threading.Lock = field(default_factory=threading.Lock)
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while the registry is looked at and, when it changed, read into a new snapshot."""
    _follower: tuple[threading.Thread, threading.Event] | None = field(default=None, repr=False)
    _later: list[str] = field(default_factory=list, repr=False)
    """Followed: the modes whose labels a reload leaves to the follower (all but the riders' default)."""
    _edits_seen: int = field(default=-1, repr=False)
    """The shared count of writes (:data:`_EDITS`) when this worker last looked at the registry file."""
    _pending: Snapshot | None = field(default=None, repr=False)
    """A snapshot swapped in with only the riders' mode warmed; the follower warms the rest."""

    @property
    def settings(self) -> Settings:
        """The workspace's settings (the process-wide settings of a service)."""
        return self.workspace.settings

    @property
    def area(self) -> Any:
        """The area the loaded streets serve (WGS84 polygon; :meth:`Workspace.service_area`)."""
        return self.workspace.service_area(list(self.graphs.values()))

    @property
    def admin_token(self) -> str | None:
        tok = self.settings.admin_token
        value = tok.get_secret_value() if tok is not None else ""
        return value or None

    @property
    def admin_name(self) -> str:
        """Who the admin token's writes are recorded as in the registry's history (``admin_token_name``)."""
        return self.settings.admin_token_name

    # --- building -----------------------------------------------------------------------------------------
    @classmethod
    def load(cls, workspace: Workspace, *, modes: list[str] | None = None, prewarm: bool = True) -> ServiceState:
        """Open the workspace's registry, load its street graphs of ``modes`` (default all) and prepare their
        indexes."""
        t0 = time.perf_counter()
        registry = workspace.registry
        watch = RegistryWatch(registry.path)
        watch.changed()  # the state read below is the one seen from now on
        snapshot = snapshot_from_frame(registry.frame(), version=1)
        graphs: dict[str, StreetGraph] = {}
        try:
            graphs = workspace.graphs(modes or list(MODES))
        except NoNetworkError as exc:
            log.warning("no street network (%s); /nearest answers by straight line only", exc)
        state = cls(workspace=workspace, registry=registry, graphs=graphs, snapshot=snapshot, watch=watch)
        if prewarm:
            state.prewarm()
        log.info("%s: loaded %d stations from %s and %d street graphs (%s) in %.1f s", workspace.name,
                 len(snapshot.stations), registry.path, len(graphs), ", ".join(graphs), time.perf_counter() - t0)
        if state.admin_token is None:
            log.warning("GEOMAP_ADMIN_TOKEN is not set: admin writes (POST/PATCH/DELETE /stations, "
                        "POST /stations/import) are refused with 403 / 未设置管理令牌，写入操作被拒绝")
        return state

    def prewarm(self) -> None:
        """Build (or load from the workspace's cache) what the first rider's request needs: the snapping
        index and the labels of the unfiltered stations of every mode, and the compiled code of label edits
        (loaded from numba's cache on first use: a quarter second the first edit would otherwise pay). The
        buffered streets of service circles are built when first asked for (a city's worth takes minutes)."""
        from geomap.network.labels import warm_edit_kernels

        self._warm_all(self.snapshot)
        if self.graphs:
            warm_edit_kernels()

    def _warm_all(self, snap: Snapshot, modes: list[str] | None = None, *, background: bool = False) -> None:
        """:meth:`warm_labels` for ``modes`` (default every mode), side by side in threads (the searches and
        the copies of an edit run without the interpreter lock: two cores do it in about half the time).
        ``background``: in threads of the lowest CPU priority (the modes a follower warms after the swap:
        the next edit's reload and the riders' requests go first)."""
        from concurrent.futures import ThreadPoolExecutor

        modes = list(self.graphs) if modes is None else modes
        snap.index.selection(_ALL, tz=self.settings.timezone)  # once, before the threads share it
        if len(modes) < 2 and not background:
            for mode in modes:
                self.warm_labels(mode, snap)
            return
        with ThreadPoolExecutor(max_workers=max(1, min(len(modes), os.cpu_count() or 1)),
                                thread_name_prefix="geomap-labels",
                                initializer=_lowest_thread_priority if background else None) as pool:
            for f in [pool.submit(self.warm_labels, mode, snap) for mode in modes]:
                f.result()

    def warm_labels(self, mode: str, snapshot: Snapshot | None = None) -> None:
        """Build the network-nearest labels of the unfiltered station set of ``snapshot`` for ``mode``."""
        from geomap.nearest import nearest

        snap = snapshot or self.snapshot
        graph = self.graphs[mode]
        if not snap.stations:
            return
        lon, lat = graph.centre_lonlat
        # the centre may be off-street (SnapError): the labels are built before the query is snapped
        with contextlib.suppress(ValueError):
            nearest(snap.index, lon, lat, k=LABEL_K, mode=mode, graph=graph, return_routes=True)

    # --- following the registry ----------------------------------------------------------------------
    def current(self) -> Snapshot:
        """The snapshot to answer from: reloaded first when the registry changed since it was read (an
        edit through any worker or process). Call once per request, on the event loop. While the follower
        (:meth:`follow`) is reading an edit in, this waits for it: an edit is served by every worker as
        soon as its write has returned. Under ``geomap serve`` (:data:`_EDITS`) with the follower running,
        the file is looked at only when a write through the service moved the shared count (one ``pread``
        a request was 2 % of a rider's request); other edits come in through the follower."""
        if self.watch is None:
            return self.snapshot
        shared = _EDITS
        if shared is None or self._follower is None:
            return self._look()
        seen = shared[0].value
        if seen != self._edits_seen:
            self._look()
            self._edits_seen = seen
        return self.snapshot

    def wrote(self) -> Snapshot:
        """:meth:`current` after a write through this service has committed, the other workers told first
        (the shared count moved on, :data:`_EDITS`)."""
        if _EDITS is not None:
            counter, lock = _EDITS
            with lock:
                counter.value += 1
        return self.current()

    def _look(self) -> Snapshot:
        """Look at the registry file; reload when it changed (see :meth:`current`)."""
        if self.watch is None:
            return self.snapshot
        with self.reload_lock:
            if self.watch is not None and self.watch.changed():
                if self._later:  # followed: the riders' mode now, the follower does the rest
                    self._pending = self.reload(modes=[self.settings.default_mode])
                else:
                    self.reload()
        return self.snapshot

    FOLLOW_S = 0.05
    """How often the follower looks at the registry (seconds; a look is one ``pread``, ~1 µs)."""

    def follow(self) -> None:
        """Start following the registry in a thread of this worker: an edit made anywhere (another worker,
        ``geomap import``) is read in as soon as it is committed, in every worker at once, rather than by
        whichever request comes next to each worker (with two workers the second one began only after the
        first had finished: 1.2 s until both served an edit on a million-node city)."""
        if self._follower is not None or self.watch is None:
            return
        stop = threading.Event()
        first = self.settings.default_mode
        self._later = [m for m in self.graphs if m != first] if first in self.graphs else []

        def run() -> None:
            while not stop.wait(self.FOLLOW_S):
                try:
                    self._look()
                    with self.reload_lock:
                        snap, self._pending = self._pending, None
                    if snap is None:
                        continue
                    # served since its swap; the other modes' labels and the heap's settling follow here,
                    # outside the lock (a request in one of those modes meanwhile derives its labels itself)
                    self._warm_all(snap, self._later, background=True)
                    settle_heap()
                except Exception:  # keep following; the next request reports what is wrong
                    if stop.is_set():
                        return
                    log.exception("following the registry failed; retrying")
                    stop.wait(1.0)

        thread = threading.Thread(target=run, name="geomap-follow", daemon=True)
        self._follower = (thread, stop)
        thread.start()

    def close(self) -> None:
        """Stop following the registry (the follower, then the watch's file descriptor); at shutdown."""
        if self._follower is not None:
            thread, stop = self._follower
            stop.set()
            thread.join(timeout=30)
            self._follower = None
            self._later = []
        with self.reload_lock:
            if self.watch is not None:
                self.watch.close()
                self.watch = None

    def reload(self, *, modes: list[str] | None = None) -> Snapshot:
        """Read the registry into a new snapshot, warm the labels of ``modes`` (default: every mode, then
        settle the heap), swap it in, and return it. With ``modes`` given (the follower: the riders' default
        mode first) the caller warms the others and settles the heap after the swap."""
        t0 = time.perf_counter()
        snap = snapshot_from_frame(self.registry.frame(), version=self.snapshot.version + 1)
        self._warm_all(snap, modes)
        self.snapshot = snap  # one reference assignment: readers see the old or the new view, never a mix
        self.cache.clear()
        if modes is None:
            settle_heap()
        log.info("registry changed: now serving %d stations (snapshot %d, %s ready in %.2f s)",
                 len(snap.stations), snap.version, ", ".join(modes or self.graphs) or "no network",
                 time.perf_counter() - t0)
        return snap


class RegistryWatch:
    """Tells whether the registry file changed since the last look; about 1 µs a call, safe from several
    threads.

    The registry is an SQLite file in rollback-journal mode (GeoPackage's default, kept by
    :class:`~geomap.stations.registry.Registry`). SQLite's file format puts a *file change counter* in the header
    (4 bytes big-endian at offset 24), "incremented whenever the database file is unlocked after having
    been modified" (https://www.sqlite.org/fileformat2.html#file_change_counter), by any connection in any
    process. One ``pread`` of the header on a descriptor kept open reads it. Reading without a lock is
    safe here: a counter seen mid-commit only makes the worker reload, and the reload reads under SQLite's
    lock, so it sees that commit or a later one.

    In WAL mode (header byte 18 is 2) the counter is not kept up to date; the watch then asks SQLite
    instead (``PRAGMA data_version`` on a connection kept for that, about 15 µs)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._fd = os.open(self._path, os.O_RDONLY)
        self._close_fd = weakref.finalize(self, os.close, self._fd)  # also when the watch is dropped
        self._con: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._seen: object = None

    def close(self) -> None:
        """Close the file descriptor (and the WAL-mode connection); :meth:`changed` then raises."""
        with self._lock:
            self._close_fd()
            self._fd = -1
            if self._con is not None:
                self._con.close()
                self._con = None

    def _version(self) -> object:
        if self._fd < 0:
            raise RuntimeError(f"the watch of {self._path} is closed")
        header = os.pread(self._fd, 10, 18)  # bytes 18-27: write/read format versions … change counter
        if len(header) == 10 and header[0] != 2:  # not WAL (a new, empty file has no header yet)
            return header[6:10]
        if self._con is None:
            self._con = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        return ("wal", int(self._con.execute("PRAGMA data_version").fetchone()[0]))

    def changed(self) -> bool:
        with self._lock:
            version = self._version()
            changed, self._seen = version != self._seen, version
        return changed


def _lowest_thread_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux: a thread's own nice value, 19); elsewhere
    nothing."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def settle_heap() -> None:
    """Collect garbage once, then move everything that survives (graphs, indexes, the snapshot) out of the
    cyclic garbage collector's reach (:func:`gc.freeze`).

    A full collection walks every tracked object, ~0.1 s with the loaded graphs, and Python starts one
    every so many allocations: under load that was a 0.1–0.2 s stall a few times a second, the whole
    p99 of the service. Called after loading and after each snapshot swap (the old snapshot is freed
    first, so nothing frozen leaks); requests then only ever scan their own young objects."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class StationRecords(Mapping[str, Station]):
    """The snapshot's stations by id, each made into a :class:`Station` when first asked for (a city's
    ten thousand records, validated all at once, took most of a reload: 0.8 s)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._rows = {str(i): n for n, i in enumerate(frame["id"].tolist())}
        self._frame = frame
        self._made: dict[str, Station] = {}

    def __getitem__(self, station_id: str) -> Station:
        st = self._made.get(station_id)
        if st is None:
            n = self._rows[station_id]  # KeyError for an unknown id, as a dict
            st = self._made[station_id] = Station.from_row(self._frame.iloc[n].to_dict())
        return st

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._rows


def snapshot_from_frame(frame: pd.DataFrame, *, version: int) -> Snapshot:
    """A snapshot from a registry table (WGS84)."""
    index = StationIndex.from_frame(frame)
    recs = StationRecords(frame)
    assert list(recs) == list(np.asarray(index.ids, dtype=object)), "index and records out of step"
    return Snapshot(version=version, index=index, stations=recs)
