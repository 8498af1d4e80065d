"""The published map served at ``GET /map``: built in a process of its own, once per station snapshot.

A city's map (streets, every station, the service-circle bands of all of them) takes seconds of CPU. In
the service's process it would hold the interpreter while riders wait, so it runs in one long-lived
child process per service worker (``spawn``; :class:`concurrent.futures.ProcessPoolExecutor` with one
worker). The child opens the same workspace (graphs and labels memory-mapped from its cache, shared
with the service), reads the registry as it is, renders the page and sends its HTML back; what does not
depend on the stations (the extract's streets, the graph) stays loaded in the child between builds, so
a rebuild after an edit costs the station-dependent part. Until a build finishes, ``GET /map`` serves
the previous page (or a page that reloads itself at start). The child watches its parent and exits
when the service is gone, however it ended (a killed service must not leave a map process behind).

Riders come first: the map process runs only on CPU time nobody else wants (Linux ``SCHED_IDLE``), so
``/nearest`` keeps its latency while a map is being built. Several service workers build each station
set's map once: the page is kept in the workspace's cache (``cache/map/``, keyed by the stations, the
mode, the settings and the extract) under a file lock, and a worker whose map process finds it there
reads it instead. After an edit, whichever map process builds the new page starts from the bands drawn
last by any of them (kept beside the labels, :func:`geomap.network.areas.band_polygons`), so the rebuild
costs what the edit changed in every worker.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from geomap.api.state import ServiceState

log = logging.getLogger("geomap.api")

_CHILD_WORKSPACES: dict[str, Any] = {}
"""In the child process: the workspaces opened so far, by folder (their graphs stay loaded)."""


PARENT_CHECK_S = 1.0
"""How often the map process checks that the service that started it is still there (seconds)."""


def _lowest_priority() -> None:
    """Run this process only when the CPU has nothing else to do: Linux ``SCHED_IDLE``, else nice 19."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        os.nice(19 - os.nice(0))


def _start_map_process(parent_pid: int) -> None:
    """In the map process, at its start: lower its priority; exit as soon as ``parent_pid`` is no longer
    its parent (the service ended, even by SIGKILL, and the process was re-parented)."""
    _lowest_priority()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="geomap-map-parent-watch", daemon=True).start()


def _map_key(ws: Any, frame: Any, mode: str) -> str:
    """What the page depends on: the stations as stored, the mode, the settings in force, the extract."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    h.update(f"{mode}|{ws.settings!r}|{ws.name}|{ws.publisher}".encode())
    if ws.osm_path is not None:
        st = Path(ws.osm_path).stat()
        h.update(f"{ws.osm_path}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def render_in_child(root: str, mode: str) -> str:
    """The published map of the workspace at ``root`` (run in the map process): from the workspace's
    cache when another worker's map process has built it for the same stations, else rendered and kept
    there (the previous station set's page is removed)."""
    from geomap.publish import maps
    from geomap.settings import use_settings
    from geomap.workspace import open_workspace

    ws = _CHILD_WORKSPACES.get(root)
    if ws is None:
        ws = _CHILD_WORKSPACES[root] = open_workspace(root)
    use_settings(ws.settings)
    folder = ws.cache_dir / "map"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per workspace; the others wait and read it
        frame = ws.registry.frame()
        page = folder / f"{_map_key(ws, frame, mode)}.html"
        if page.exists():
            return page.read_text(encoding="utf-8")
        graph = ws.graph(mode) if ws.has_network else None
        html = maps.render_map(frame, graph=graph, osm_path=ws.osm_path, streets=ws.osm_path is not None,
                               place=ws.name, publisher=ws.publisher,
                               data_date=maps.data_date(ws.registry, settings=ws.settings))
        tmp = page.with_suffix(".tmp")
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(page)
        for old in folder.glob("*.html"):
            if old != page:
                old.unlink(missing_ok=True)
        return html


def _executor(state: ServiceState) -> ProcessPoolExecutor:
    ex = state.__dict__.get("_map_executor")
    if ex is None:
        ex = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_map_process, initargs=(os.getpid(),))
        state.__dict__["_map_executor"] = ex
    return ex


def stop_map_builds(state: ServiceState) -> None:
    """Stop the map process (at shutdown), a build in progress included: the service must not wait for it.
    Its resources are released before the service exits."""
    ex = state.__dict__.pop("_map_executor", None)
    if ex is None:
        return
    state.__dict__["_map_stopping"] = True
    for proc in list((getattr(ex, "_processes", None) or {}).values()):  # Python < 3.14: no public terminate
        proc.terminate()
    ex.shutdown(wait=True, cancel_futures=True)
    del ex
    gc.collect()  # its queues' semaphores are unlinked now: uvicorn ends by re-raising SIGTERM, skipping atexit


def start_map_build(state: ServiceState) -> bool:
    """Ask the map process for the published map of the current snapshot, unless it is built or being
    built for it (with ``state.map_render``, by default :func:`render_in_child`). Returns True (the map is
    available in this build of geomap)."""
    version = state.snapshot.version
    with state.map_lock:
        if state.map_building or state.map_version == version:
            return True
        state.map_building = True
    try:
        render = state.map_render or render_in_child
        future = _executor(state).submit(render, str(state.workspace.root), state.settings.default_mode)
    except RuntimeError:  # shutting down
        with state.map_lock:
            state.map_building = False
        return True

    def done(f: Future[str]) -> None:
        try:
            html = f.result()
            with state.map_lock:
                state.map_html, state.map_version = html, version
        except Exception:
            if not state.__dict__.get("_map_stopping"):
                log.exception("building the published map failed; GET /map stays unavailable")
            with state.map_lock:
                state.map_version = version  # do not retry in a loop; the next edit tries again
        finally:
            with state.map_lock:
                state.map_building = False

    future.add_done_callback(done)
    return True

