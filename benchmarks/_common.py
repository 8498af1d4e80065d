"""Helpers shared by the benchmarks: timing (median of repeats) and RESULTS.md section updates."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def median_time(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def osmnx_iso_recipe(G: Any, center: Any, *, radius: float, distance: str,
                     edges_seen: set[tuple[Any, Any]] | None = None) -> tuple[Any, set[Any]]:
    """The osmnx examples notebook's isochrone recipe (``make_iso_polys``, edge_buff=25 m, node_buff=50 m,
    no infill) around one node of a projected osmnx graph: ``ego_graph`` within ``radius`` of edge
    attribute ``distance``, then the union of the buffered nodes and edges. Returns the polygon and the
    reached nodes; the reached edges are added to ``edges_seen`` when given."""
    import geopandas as gpd
    import networkx as nx
    from shapely.geometry import LineString, Point

    sub = nx.ego_graph(G, center, radius=radius, distance=distance)
    node_points = [Point((d["x"], d["y"])) for _, d in sub.nodes(data=True)]
    nodes_gdf = gpd.GeoDataFrame({"id": list(sub.nodes)}, geometry=node_points).set_index("id")
    edge_lines = []
    for n_fr, n_to in sub.edges():
        f = nodes_gdf.loc[n_fr].geometry
        t = nodes_gdf.loc[n_to].geometry
        edge_lines.append(G.get_edge_data(n_fr, n_to)[0].get("geometry", LineString([f, t])))
        if edges_seen is not None:
            edges_seen.add((n_fr, n_to))
    n = nodes_gdf.buffer(50).geometry
    e = gpd.GeoSeries(edge_lines).buffer(25).geometry
    return gpd.GeoSeries(list(n) + list(e)).union_all(), set(sub.nodes)
