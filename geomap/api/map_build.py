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
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from geomap.api.state import ServiceState

log = logging.getLogger("geomap.api")

_CHILD_WORKSPACES: dict[str, Any] = {}
"""In the child process: the workspaces opened so far, by folder (their graphs stay loaded)."""


PARENT_CHECK_S = 1.0
"""How often the map process checks that the service that started it is still there (seconds)."""


def _exit_with_parent(parent_pid: int) -> None:
    """In the map process: exit as soon as ``parent_pid`` is no longer its parent (the service ended,
    even by SIGKILL, and the process was re-parented)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="geomap-map-parent-watch", daemon=True).start()


def render_in_child(root: str, mode: str) -> str:
    """The published map of the workspace at ``root`` (run in the map process)."""
    from geomap.publish import maps
    from geomap.settings import use_settings
    from geomap.workspace import open_workspace

    ws = _CHILD_WORKSPACES.get(root)
    if ws is None:
        ws = _CHILD_WORKSPACES[root] = open_workspace(root)
    use_settings(ws.settings)
    graph = ws.graph(mode) if ws.has_network else None
    return maps.render_map(ws.registry, graph=graph, osm_path=ws.osm_path, streets=ws.osm_path is not None,
                           place=ws.name, publisher=ws.publisher)


def _executor(state: ServiceState) -> ProcessPoolExecutor:
    ex = state.__dict__.get("_map_executor")
    if ex is None:
        ex = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_exit_with_parent, initargs=(os.getpid(),))
        state.__dict__["_map_executor"] = ex
    return ex


def stop_map_builds(state: ServiceState) -> None:
    """Stop the map process (at shutdown)."""
    ex = state.__dict__.pop("_map_executor", None)
    if ex is not None:
        ex.shutdown(wait=False, cancel_futures=True)


def start_map_build(state: ServiceState) -> bool:
    """Ask the map process for the published map of the current snapshot, unless it is built or being
    built for it. Returns True (the map is available in this build of geomap)."""
    version = state.snapshot.version
    with state.map_lock:
        if state.map_building or state.map_version == version:
            return True
        state.map_building = True
    try:
        future = _executor(state).submit(render_in_child, str(state.workspace.root), state.settings.default_mode)
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
            log.exception("building the published map failed; GET /map stays unavailable")
            with state.map_lock:
                state.map_version = version  # do not retry in a loop; the next edit tries again
        finally:
            with state.map_lock:
                state.map_building = False

    future.add_done_callback(done)
    return True

