"""The published map served at ``GET /map``: built in a background thread once per station snapshot."""

from __future__ import annotations

import dataclasses
import logging
import threading

from geomap.api.state import ServiceState, settle_heap

log = logging.getLogger("geomap.api")


def start_map_build(state: ServiceState) -> bool:
    """Build the published map (:func:`geomap.publish.maps.render_map`) in a background thread, once per snapshot
    version. Returns False when :mod:`geomap.publish.maps` is not available. The build (~10 s on the sample: it
    unions every station's service circle) works on its own copy of the e-bike graph, so it shares no
    lazily-built cache with the request handlers (``dataclasses.replace``: same arrays, fresh caches);
    until it finishes ``GET /map`` serves the previous page (or 503 at start)."""
    try:
        from geomap.publish import maps  # the map issue's module; optional here
    except ImportError:
        return False
    version = state.snapshot.version
    with state.map_lock:
        if state.map_building or state.map_version == version:
            return True
        state.map_building = True

    def work() -> None:
        try:
            mode = state.settings.default_mode
            graph = state.graphs.get(mode)
            ws = state.workspace
            html = maps.render_map(state.registry, graph=dataclasses.replace(graph) if graph is not None else None,
                                   osm_path=ws.osm_path, streets=ws.osm_path is not None, place=ws.name,
                                   publisher=ws.publisher)
            with state.map_lock:
                state.map_html, state.map_version = html, version
        except Exception:
            log.exception("building the published map failed; GET /map stays unavailable")
            with state.map_lock:
                state.map_version = version  # do not retry in a loop; the next edit tries again
        finally:
            with state.map_lock:
                state.map_building = False
            settle_heap()  # the build's garbage, once, instead of full collections under load

    threading.Thread(target=work, name="geomap-map-build", daemon=True).start()
    return True
