"""An independent networkx model of a StreetGraph for brute-force checks in the tests."""

from __future__ import annotations

import networkx as nx
import numpy as np

from geomap.network.graph import StreetGraph
from geomap.network.routing import Snapped, travel_times_from


def street_digraph(g: StreetGraph) -> nx.DiGraph:
    """Every street as directed edges (where its direction allows), weight ``w`` = travel seconds; of
    parallel streets between two nodes the quickest is kept."""
    h = nx.DiGraph()
    for s in range(g.n_streets):
        u, v, t = int(g.street_u[s]), int(g.street_v[s]), float(g.street_travel_s[s])
        for a, b, ok in ((u, v, g.street_forward[s]), (v, u, g.street_backward[s])):
            if ok and (not h.has_edge(a, b) or h[a][b]["w"] > t):
                h.add_edge(a, b, w=t)
    return h


def add_point(h: nx.DiGraph, g: StreetGraph, name: object, s: int, f: float, *, leaving: bool) -> None:
    """Insert a point at fraction ``f`` of street ``s`` as node ``name``: edges out of it to the street's
    ends (``leaving``) or into it from them, with the partial travel times, where the direction allows."""
    u, v, t = int(g.street_u[s]), int(g.street_v[s]), float(g.street_travel_s[s])
    # the street's direction decides, except at an end: a point at f = 0 is at u (f = 1: at v)
    if g.street_forward[s] or f == (1.0 if leaving else 0.0):
        h.add_edge(name, v, w=(1 - f) * t) if leaving else h.add_edge(u, name, w=f * t)
    if g.street_backward[s] or f == (0.0 if leaving else 1.0):
        h.add_edge(name, u, w=f * t) if leaving else h.add_edge(v, name, w=(1 - f) * t)


def brute_force_times(g: StreetGraph, q: Snapped, st: Snapped) -> np.ndarray:
    """Travel time (s) from every snapped query point to every snapped station: a Dijkstra from each query
    point, then the partial street into each station, and direct travel when both share a street."""
    node_t = travel_times_from(g, q)  # (Q, N), one Dijkstra per query
    out = np.full((len(q), len(st)), np.inf)
    for j in range(len(st)):
        if not st.ok[j]:
            continue
        s, f = st.street[j], st.fraction[j]
        t = g.street_travel_s[s]
        best = np.full(len(q), np.inf)
        if g.street_forward[s] or f == 0.0:  # a station at a street end is at that node
            best = np.minimum(best, node_t[:, g.street_u[s]] + f * t)
        if g.street_backward[s] or f == 1.0:
            best = np.minimum(best, node_t[:, g.street_v[s]] + (1 - f) * t)
        same = q.street == s
        ahead = f >= q.fraction
        direct = np.where(
            ahead,
            np.where(g.street_forward[s], (f - q.fraction) * t, np.inf),
            np.where(g.street_backward[s], (q.fraction - f) * t, np.inf),
        )
        out[:, j] = np.where(same, np.minimum(best, direct), best)
    return out
