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


def leg_s(g: StreetGraph, distance_m: float) -> float:
    """Seconds of a straight access leg of ``distance_m`` metres at the graph's access speed (km/h),
    computed here by hand."""
    return float(distance_m) / (g.access_speed_kmh * 1000.0 / 3600.0)


def add_point(h: nx.DiGraph, g: StreetGraph, name: object, s: int, f: float, *, leaving: bool,
              off_m: float = 0.0) -> None:
    """Insert a point at fraction ``f`` of street ``s`` as node ``name``, ``off_m`` metres off the street:
    a node for its foot on the street, joined to the point by the access leg (:func:`leg_s`), with edges
    out of the foot to the street's ends (``leaving``) or into it from them, with the partial travel
    times, where the direction allows."""
    u, v, t = int(g.street_u[s]), int(g.street_v[s]), float(g.street_travel_s[s])
    foot = ("foot", name)
    if leaving:
        h.add_edge(name, foot, w=leg_s(g, off_m))
    else:
        h.add_edge(foot, name, w=leg_s(g, off_m))
    # the street's direction decides, except at an end: a point at f = 0 is at u (f = 1: at v)
    if g.street_forward[s] or f == (1.0 if leaving else 0.0):
        h.add_edge(foot, v, w=(1 - f) * t) if leaving else h.add_edge(u, foot, w=f * t)
    if g.street_backward[s] or f == (0.0 if leaving else 1.0):
        h.add_edge(foot, u, w=f * t) if leaving else h.add_edge(v, foot, w=(1 - f) * t)


def brute_force_times(g: StreetGraph, q: Snapped, st: Snapped) -> np.ndarray:
    """Travel time (s) from every snapped query point to every snapped station, whole trips: a Dijkstra
    from each query point (its access leg included), then the partial street into each station and the
    station's access leg, and direct travel when both share a street (plus both legs)."""
    node_t = travel_times_from(g, q)  # (Q, N), one Dijkstra per query
    q_leg = np.array([leg_s(g, d) if ok else 0.0 for d, ok in zip(q.distance_m, q.ok, strict=True)])
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
        out[:, j] = np.where(same, np.minimum(best, direct + q_leg), best) + leg_s(g, st.distance_m[j])
    return out
