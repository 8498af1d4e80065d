"""Every node within a travel time of each of many sources: one bounded search per source, compiled.

What site proposals need (which demand points a candidate site would serve within T minutes): a search
that stops at T touches only the nodes within T, so a thousand candidates on a city of a million nodes
cost a thousand small searches, and the answer is sparse ``(source, node, time)`` triples instead of a
dense sources × nodes matrix. Sources are snapped points (partial streets at the start, as everywhere).
Units: seconds; ``direction="to"``: time from the node *to* the source (one-way streets in the travel
direction), ``"from"``: from the source to the node.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from numba import njit

from geomap.network.graph import StreetGraph
from geomap.network.labels import _grow, _reverse_arrays
from geomap.network.routing import Snapped, _access_edges

__all__ = ["within"]


@njit(cache=True, nogil=True, inline="always")
def _push(hs, hn, size, t, x):  # pragma: no cover (compiled)
    """Push (t, x) onto the heap of ``size`` entries (grown when full); the arrays and the new size."""
    if size == hs.shape[0]:
        hs, hn = _grow(hs, size), _grow(hn, size)
    i = size
    hs[i], hn[i] = t, x
    while i > 0 and hs[(i - 1) >> 1] > hs[i]:
        p = (i - 1) >> 1
        hs[i], hs[p], hn[i], hn[p] = hs[p], hs[i], hn[p], hn[i]
        i = p
    return hs, hn, size + 1


@njit(cache=True, nogil=True)
def _within(ptr, nbr, wt, seed_ptr, seed_node, seed_t, n, limit):  # pragma: no cover (compiled)
    """Per source (seeds ``seed_ptr[s]:seed_ptr[s+1]``), a Dijkstra over ``ptr/nbr/wt`` that stops at
    ``limit``; returns (source, node, time) of every node reached."""
    dist = np.full(n, np.inf)
    stamp = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    hs = np.empty(1024, dtype=np.float64)
    hn = np.empty(1024, dtype=np.int64)
    out_s = np.empty(1024, dtype=np.int64)
    out_n = np.empty(1024, dtype=np.int64)
    out_t = np.empty(1024, dtype=np.float64)
    m = 0
    for s in range(seed_ptr.shape[0] - 1):
        size = 0
        for q in range(seed_ptr[s], seed_ptr[s + 1]):
            x, t = seed_node[q], seed_t[q]
            if t > limit:
                continue
            if stamp[x] != s:
                stamp[x], dist[x], done[x] = s, np.inf, False
            if t < dist[x]:
                dist[x] = t
                hs, hn, size = _push(hs, hn, size, t, x)
        while size > 0:
            t, x = hs[0], hn[0]
            size -= 1
            if size > 0:
                hs[0], hn[0] = hs[size], hn[size]
                i = 0
                while True:
                    a = 2 * i + 1
                    if a >= size:
                        break
                    c = a + 1 if a + 1 < size and hs[a + 1] < hs[a] else a
                    if hs[c] < hs[i]:
                        hs[i], hs[c], hn[i], hn[c] = hs[c], hs[i], hn[c], hn[i]
                        i = c
                    else:
                        break
            if done[x] or t > dist[x]:
                continue
            done[x] = True
            if m == out_s.shape[0]:
                out_s, out_n, out_t = _grow(out_s, m), _grow(out_n, m), _grow(out_t, m)
            out_s[m], out_n[m], out_t[m] = s, x, t
            m += 1
            for e in range(ptr[x], ptr[x + 1]):
                y = nbr[e]
                t2 = t + wt[e]
                if t2 > limit:
                    continue
                if stamp[y] != s:
                    stamp[y], dist[y], done[y] = s, np.inf, False
                if t2 < dist[y]:
                    dist[y] = t2
                    hs, hn, size = _push(hs, hn, size, t2, y)
    return out_s[:m], out_n[:m], out_t[:m]


def within(graph: StreetGraph, sources: Snapped, *, limit_s: float, direction: Literal["from", "to"] = "to"
           ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``(source, node, travel_s)`` for every node within ``limit_s`` seconds of each snapped source
    (those not ``ok`` reach nothing). Travel along a source's own street without passing a node is not
    a node time; callers that need it add it from ``sources.fraction``."""
    n = graph.n_nodes
    pts, nodes, cost, _ = _access_edges(graph, sources, inbound=direction == "to")
    seed_ptr = np.zeros(len(sources) + 1, dtype=np.int64)
    np.cumsum(np.bincount(pts, minlength=len(sources)), out=seed_ptr[1:])
    if direction == "to":  # arrive at the source: search the reversed graph from it
        rp, rs, rt, _ = _reverse_arrays(graph)
        ptr, nbr, wt = rp, rs, rt
    else:
        ptr, nbr, wt = graph.indptr, graph.indices, graph.edge_travel_s
    return _within(ptr, nbr, wt, seed_ptr, nodes.astype(np.int64), cost.astype(np.float64), n, float(limit_s))
