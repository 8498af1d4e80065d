"""An independent networkx model of a StreetGraph for brute-force checks in the tests."""

from __future__ import annotations

import networkx as nx

from geomap.network import StreetGraph


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
    if g.street_forward[s]:
        h.add_edge(name, v, w=(1 - f) * t) if leaving else h.add_edge(u, name, w=f * t)
    if g.street_backward[s]:
        h.add_edge(name, u, w=f * t) if leaving else h.add_edge(v, name, w=(1 - f) * t)
