"""Per-node labels of the k nearest stations: one bounded search for any number of stations, edited in place.

Every node of a mode's street graph keeps its ``k`` quickest *distinct* stations to travel to (one-way
streets honoured), each with the travel time, the network distance and the **next hop** toward it:
the next node on the way, or ``-1`` when the node is an end of the station's own street (the last piece
runs along that street to the station). A route is a walk along next hops; nothing else is stored.

**Building** is one multi-source label-setting search on the reversed graph (:func:`build_labels`):
every station starts from the ends of its street (its straight access leg and the partial street are the
first edge: times are whole trips, see ``routing.access_s``), the search pops
``(time, station, distance)`` in order from a heap, and a node settles a label only while it holds fewer
than ``k`` and none for that station, so each node is settled at most ``k`` times and the cost does not
grow with the number of stations (≈ k × edges × log). Labels farther than ``limit_s`` (default
``settings.label_limit_minutes``) are not searched: nobody is sent farther, and beyond it a point has no
station within reach. Exactness: a label (j at node x) is missing only when x's successor on j's path
already holds k stations ahead of j, and each of those reaches x ahead of j too.

**Edits in place** (:meth:`Labels.with_changes`): adding a station is one bounded search from it that
stops wherever the station does not enter a node's top k; removing (or moving = removing + adding)
repairs only the nodes whose labels named it, seeded from their neighbours' labels. After any sequence of
edits the labels equal a fresh build (tested against one after 100 random edits).

Arithmetic: labels are stored compactly (int32 stations and next hops, float32 times and distances). A
settled label's time and distance are rounded to float32 *before* they are propagated, so a build and a
repair do exactly the same arithmetic along the same path and agree to the bit.

**Queries** (:meth:`Labels.query`): a point at fraction ``f`` of street (u, v) ranks the labels of the
street's two ends (plus its access leg and the partial street) and the stations on its own street (direct
travel along it, both access legs added),
in one compiled kernel for a batch (one point is a batch of one). Routes (:meth:`Labels.route_pieces`)
walk the next hops, also compiled.

Units: seconds, metres; coordinates WGS84 degrees.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from geomap import npy
from geomap.network.graph import StreetGraph
from geomap.network.routing import Snapped, _access_edges, access_s, end_access

__all__ = ["LABELS_FORMAT", "Labels", "build_labels"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

LABELS_FORMAT = 2  # 2: times and distances of whole trips (the stations' access legs in the labels)
"""Version of the on-disk layout (:meth:`Labels.save`); part of every cache key."""

_EMPTY = -2  # next hop of an empty label slot
_LAST = -1  # next hop "along the station's own street": the node is an end of it

# ------------------------------------------------------------------------------------------------------
# The heap: parallel arrays, ordered by (time, station, distance)
# ------------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _before(t1, j1, d1, t2, j2, d2):  # pragma: no cover (compiled)
    if t1 != t2:
        return t1 < t2
    if j1 != j2:
        return j1 < j2
    return d1 < d2


@njit(cache=True, nogil=True)
def _grow(a, size):  # pragma: no cover (compiled)
    b = np.empty(max(16, 2 * a.shape[0]), dtype=a.dtype)
    b[:size] = a[:size]
    return b


@njit(cache=True, nogil=True, inline="always")
def _push(ht, hj, hd, hx, hy, size, t, j, d, x, y):  # pragma: no cover (compiled)
    """Push (t, j, d, x, y) onto the heap of ``size`` entries (grown when full); the arrays and new size."""
    if size == ht.shape[0]:
        ht, hj, hd, hx, hy = _grow(ht, size), _grow(hj, size), _grow(hd, size), _grow(hx, size), _grow(hy, size)
    i = size
    ht[i], hj[i], hd[i], hx[i], hy[i] = t, j, d, x, y
    while i > 0:
        p = (i - 1) >> 1
        if not _before(ht[i], hj[i], hd[i], ht[p], hj[p], hd[p]):
            break
        ht[i], ht[p] = ht[p], ht[i]
        hj[i], hj[p] = hj[p], hj[i]
        hd[i], hd[p] = hd[p], hd[i]
        hx[i], hx[p] = hx[p], hx[i]
        hy[i], hy[p] = hy[p], hy[i]
        i = p
    return ht, hj, hd, hx, hy, size + 1


@njit(cache=True, nogil=True)
def _search(rev_ptr, rev_src, rev_t, rev_len, seed_t, seed_j, seed_d, seed_x, seed_y,
            lab_j, lab_t, lab_d, lab_next, cnt, k, limit, insert, allowed, restrict):  # pragma: no cover
    """The label-setting search, modifying the label arrays in place.

    ``rev_ptr/rev_src/rev_t/rev_len``: the graph's in-edges per node (w -> x). Seeds: labels offered to
    node ``seed_x`` for station ``seed_j`` with time ``seed_t``, distance ``seed_d`` and next hop ``seed_y``.
    ``insert=False`` (build, repair): a node settles while it holds fewer than k labels. ``insert=True``
    (a new station): a label enters where it beats the node's k-th, pushing that one out, and the search
    stops where it does not. ``restrict``: settle and relax only nodes where ``allowed`` is True."""
    cap = max(1024, 4 * seed_t.shape[0])
    ht = np.empty(cap, dtype=np.float64)
    hj = np.empty(cap, dtype=np.int32)
    hd = np.empty(cap, dtype=np.float64)
    hx = np.empty(cap, dtype=np.int32)
    hy = np.empty(cap, dtype=np.int32)
    size = 0
    for s in range(seed_t.shape[0]):
        if seed_t[s] <= limit:
            ht, hj, hd, hx, hy, size = _push(ht, hj, hd, hx, hy, size, seed_t[s], seed_j[s], seed_d[s], seed_x[s],
                                             seed_y[s])
    settled = 0
    while size > 0:
        t, j, d, x, y = ht[0], hj[0], hd[0], hx[0], hy[0]
        size -= 1
        if size > 0:  # the last entry to the root, sifted down
            ht[0], hj[0], hd[0], hx[0], hy[0] = ht[size], hj[size], hd[size], hx[size], hy[size]
            i = 0
            while True:
                a = 2 * i + 1
                if a >= size:
                    break
                b = a + 1
                c = a
                if b < size and _before(ht[b], hj[b], hd[b], ht[a], hj[a], hd[a]):
                    c = b
                if _before(ht[c], hj[c], hd[c], ht[i], hj[i], hd[i]):
                    ht[i], ht[c] = ht[c], ht[i]
                    hj[i], hj[c] = hj[c], hj[i]
                    hd[i], hd[c] = hd[c], hd[i]
                    hx[i], hx[c] = hx[c], hx[i]
                    hy[i], hy[c] = hy[c], hy[i]
                    i = c
                else:
                    break
        if restrict and not allowed[x]:
            continue
        n_here = cnt[x]
        dup = False
        for q in range(n_here):
            if lab_j[x, q] == j:
                dup = True
                break
        if dup:
            continue
        # the time and distance as stored (float32), and propagated as stored
        t32 = np.float32(t)
        d32 = np.float32(d)
        if insert:
            if n_here == k and not (t32 < lab_t[x, k - 1] or (t32 == lab_t[x, k - 1] and j < lab_j[x, k - 1])):
                continue  # not among this node's k: the station goes no farther this way
            pos = n_here if n_here < k else k - 1
            while pos > 0 and (t32 < lab_t[x, pos - 1] or (t32 == lab_t[x, pos - 1] and j < lab_j[x, pos - 1])):
                if pos < k:
                    lab_j[x, pos] = lab_j[x, pos - 1]
                    lab_t[x, pos] = lab_t[x, pos - 1]
                    lab_d[x, pos] = lab_d[x, pos - 1]
                    lab_next[x, pos] = lab_next[x, pos - 1]
                pos -= 1
            lab_j[x, pos], lab_t[x, pos], lab_d[x, pos], lab_next[x, pos] = j, t32, d32, y
            if n_here < k:
                cnt[x] = n_here + 1
        else:
            if n_here >= k:
                continue
            lab_j[x, n_here], lab_t[x, n_here], lab_d[x, n_here], lab_next[x, n_here] = j, t32, d32, y
            cnt[x] = n_here + 1
        settled += 1
        tf = np.float64(t32)
        df = np.float64(d32)
        for e in range(rev_ptr[x], rev_ptr[x + 1]):
            w = rev_src[e]
            if restrict and not allowed[w]:
                continue
            t2 = tf + rev_t[e]
            if t2 > limit:
                continue
            m = cnt[w]
            if m >= k and not insert:
                continue
            if insert and m == k:
                lt = lab_t[w, k - 1]
                if np.float32(t2) > lt:
                    continue
            seen = False
            for q in range(m):
                if lab_j[w, q] == j:
                    seen = True
                    break
            if seen:
                continue
            ht, hj, hd, hx, hy, size = _push(ht, hj, hd, hx, hy, size, t2, j, df + rev_len[e], w, x)
    return settled


@njit(cache=True, nogil=True)
def _drop(lab_j, lab_t, lab_d, lab_next, cnt, gone):  # pragma: no cover (compiled)
    """Remove the labels of stations marked in ``gone`` (compacting each row, order kept); returns the
    nodes that lost one."""
    n = lab_j.shape[0]
    hit = np.zeros(n, dtype=np.bool_)
    for x in range(n):
        c = cnt[x]
        w = 0
        for q in range(c):
            j = lab_j[x, q]
            if gone[j]:
                hit[x] = True
                continue
            if w != q:
                lab_j[x, w], lab_t[x, w], lab_d[x, w], lab_next[x, w] = j, lab_t[x, q], lab_d[x, q], lab_next[x, q]
            w += 1
        for q in range(w, c):
            lab_j[x, q], lab_t[x, q], lab_d[x, q], lab_next[x, q] = -1, np.inf, np.inf, -2
        cnt[x] = w
    return np.flatnonzero(hit)


@njit(cache=True, nogil=True)
def _repair_seeds(nodes, ptr, indices, edge_t, edge_len, lab_j, lab_t, lab_d, cnt):  # pragma: no cover
    """Labels offered to the repaired ``nodes`` by their out-neighbours (x -> y: y's labels plus the edge)."""
    total = 0
    for x in nodes:
        for e in range(ptr[x], ptr[x + 1]):
            total += cnt[indices[e]]
    st = np.empty(total, dtype=np.float64)
    sj = np.empty(total, dtype=np.int32)
    sd = np.empty(total, dtype=np.float64)
    sx = np.empty(total, dtype=np.int32)
    sy = np.empty(total, dtype=np.int32)
    m = 0
    for x in nodes:
        for e in range(ptr[x], ptr[x + 1]):
            y = indices[e]
            for q in range(cnt[y]):
                st[m] = np.float64(lab_t[y, q]) + edge_t[e]
                sj[m] = lab_j[y, q]
                sd[m] = np.float64(lab_d[y, q]) + edge_len[e]
                sx[m] = x
                sy[m] = y
                m += 1
    return st, sj, sd, sx, sy


# ------------------------------------------------------------------------------------------------------
# Queries and routes
# ------------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _query(s_arr, f_arr, a_t, a_d, k, limit, street_u, street_v, street_t, street_len, fw, bw, lab_j, lab_t, lab_d,
           cnt, on_street, on_slot, on_frac, on_t, on_d, out_j, out_t, out_d, out_via):  # pragma: no cover (compiled)
    """The k quickest stations of each snapped point (street ``s``, fraction ``f``; ``s < 0``: none),
    whole trips: the point's access leg (``a_t`` s, ``a_d`` m) first.

    Through v: ``(1 - f) * t`` then v's label (street open forward, or the point at v); through u:
    ``f * t`` then u's label (open backward, or at u) — labels hold the station's own access leg; direct
    along the street to a station on it, then its access leg (``on_t`` / ``on_d``). A station reached
    several ways keeps its quickest (ties: through v, then u, then direct; a direct way wins ties against
    the network). Ranked by (time, station); none farther than ``limit`` seconds (the labels' limit: the
    whole trip, nobody is sent farther)."""
    kk = lab_j.shape[1]
    width = 2 * kk + 64
    cj = np.empty(width, dtype=np.int64)
    ct = np.empty(width, dtype=np.float64)
    cd = np.empty(width, dtype=np.float64)
    cv = np.empty(width, dtype=np.int8)
    for p in range(s_arr.shape[0]):
        s = s_arr[p]
        if s < 0:
            continue
        f = f_arr[p]
        t = street_t[s]
        ln = street_len[s]
        m = 0
        for side in range(2):
            node = street_v[s] if side == 0 else street_u[s]
            if side == 0:
                ok = fw[s] or f == 1.0
                t0 = (1.0 - f) * t + a_t[p]
                d0 = (1.0 - f) * ln + a_d[p]
            else:
                ok = bw[s] or f == 0.0
                t0 = f * t + a_t[p]
                d0 = f * ln + a_d[p]
            if not ok:
                continue
            for q in range(cnt[node]):
                j = lab_j[node, q]
                tt = t0 + np.float64(lab_t[node, q])
                dd = d0 + np.float64(lab_d[node, q])
                found = -1
                for r in range(m):
                    if cj[r] == j:
                        found = r
                        break
                if found < 0:
                    cj[m], ct[m], cd[m], cv[m] = j, tt, dd, side
                    m += 1
                elif tt < ct[found]:
                    ct[found], cd[found], cv[found] = tt, dd, side
        # stations on the point's own street (binary search of the sorted street list)
        lo, hi = 0, on_street.shape[0]
        while lo < hi:
            mid = (lo + hi) >> 1
            if on_street[mid] < s:
                lo = mid + 1
            else:
                hi = mid
        r0 = lo
        while r0 < on_street.shape[0] and on_street[r0] == s:
            j = on_slot[r0]
            fs = on_frac[r0]
            dfr = fs - f
            if (dfr >= 0.0 and fw[s]) or (dfr <= 0.0 and bw[s]):
                tt = abs(dfr) * t + a_t[p] + on_t[r0]
                dd = abs(dfr) * ln + a_d[p] + on_d[r0]
                found = -1
                for r in range(m):
                    if cj[r] == j:
                        found = r
                        break
                if found < 0:
                    if m == cj.shape[0]:  # a street holding very many stations
                        cj = _grow(cj, m)
                        ct = _grow(ct, m)
                        cd = _grow(cd, m)
                        cv = _grow(cv, m)
                    cj[m], ct[m], cd[m], cv[m] = j, tt, dd, 2
                    m += 1
                elif tt <= ct[found]:
                    ct[found], cd[found], cv[found] = tt, dd, 2
            r0 += 1
        # beyond the limit: none (the labels' own search stopped there, the point's part comes on top)
        w = 0
        for r in range(m):
            if ct[r] <= limit:
                cj[w], ct[w], cd[w], cv[w] = cj[r], ct[r], cd[r], cv[r]
                w += 1
        m = w
        # the k best by (time, station): selection, k is small
        for rank in range(min(k, m)):
            best = rank
            for r in range(rank + 1, m):
                if ct[r] < ct[best] or (ct[r] == ct[best] and cj[r] < cj[best]):
                    best = r
            cj[rank], cj[best] = cj[best], cj[rank]
            ct[rank], ct[best] = ct[best], ct[rank]
            cd[rank], cd[best] = cd[best], cd[rank]
            cv[rank], cv[best] = cv[best], cv[rank]
            out_j[p, rank], out_t[p, rank], out_d[p, rank], out_via[p, rank] = cj[rank], ct[rank], cd[rank], cv[rank]


@njit(cache=True, nogil=True)
def _route_pieces(q_s, q_f, ans_j, ans_via, street_u, street_v, street_t, fw, bw, ptr, indices, edge_street,
                  edge_fwd, lab_j, lab_next, cnt, t_street, t_frac):  # pragma: no cover (compiled)
    """The pieces ``(route, street, f_from, f_to)`` of every route, in travel order: the query's partial
    street, the edges along the next hops, the station's partial street (one piece when direct)."""
    n_rt = ans_j.shape[0] * ans_j.shape[1]
    cap = max(16, 8 * n_rt)
    pr = np.empty(cap, dtype=np.int64)
    ps = np.empty(cap, dtype=np.int64)
    pa = np.empty(cap, dtype=np.float64)
    pb = np.empty(cap, dtype=np.float64)
    m = 0
    kq = ans_j.shape[1]
    n = cnt.shape[0]
    for p in range(ans_j.shape[0]):
        for rank in range(kq):
            j = ans_j[p, rank]
            if j < 0:
                continue
            rid = p * kq + rank
            s, f, via = q_s[p], q_f[p], ans_via[p, rank]
            if m + 3 >= pr.shape[0]:
                pr, ps, pa, pb = _grow(pr, m), _grow(ps, m), _grow(pa, m), _grow(pb, m)
            if via == 2:
                pr[m], ps[m], pa[m], pb[m] = rid, s, f, t_frac[j]
                m += 1
                continue
            pr[m], ps[m], pa[m], pb[m] = rid, s, f, (1.0 if via == 0 else 0.0)
            m += 1
            x = street_v[s] if via == 0 else street_u[s]
            steps = 0
            while True:
                nxt = _EMPTY_HOP
                for q in range(cnt[x]):
                    if lab_j[x, q] == j:
                        nxt = lab_next[x, q]
                        break
                if nxt == _EMPTY_HOP:
                    break  # (cannot happen with consistent labels)
                if m + 2 >= pr.shape[0]:
                    pr, ps, pa, pb = _grow(pr, m), _grow(ps, m), _grow(pa, m), _grow(pb, m)
                if nxt == _LAST_HOP:  # along the station's street from its end x
                    st = t_street[j]
                    fr = t_frac[j]
                    from_u = street_u[st] == x and (fw[st] or fr == 0.0)
                    from_v = street_v[st] == x and (bw[st] or fr == 1.0)
                    use_u = from_u and (not from_v or fr * street_t[st] <= (1.0 - fr) * street_t[st])
                    pr[m], ps[m], pa[m], pb[m] = rid, st, (0.0 if use_u else 1.0), fr
                    m += 1
                    break
                e = ptr[x]
                while e < ptr[x + 1] and indices[e] != nxt:
                    e += 1
                pr[m], ps[m] = rid, edge_street[e]
                pa[m], pb[m] = (0.0, 1.0) if edge_fwd[e] else (1.0, 0.0)
                m += 1
                x = nxt
                steps += 1
                if steps > n:
                    break
    return pr[:m], ps[:m], pa[:m], pb[:m]


_EMPTY_HOP = np.int32(_EMPTY)
_LAST_HOP = np.int32(_LAST)


# ------------------------------------------------------------------------------------------------------
# The labels
# ------------------------------------------------------------------------------------------------------


def _reverse_arrays(graph: StreetGraph) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """The in-edges of every node (w -> x) in CSR form: pointer, source w, travel_s, length_m (kept with
    the graph's cache)."""
    return graph.reverse_indptr, graph.reverse_src, graph.reverse_travel_s, graph.reverse_length_m


def _seeds(graph: StreetGraph, targets: Snapped, slots: IntArray
           ) -> tuple[FloatArray, npt.NDArray[np.int32], FloatArray, npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """The first labels of the stations at ``slots``: the ends of their streets, reached along the partial
    street (the station's access edges), next hop "along the street"."""
    sub = targets.take(slots)
    pts, nodes, cost, lens = _access_edges(graph, sub, inbound=True)
    return (cost.astype(np.float64), slots[pts].astype(np.int32), lens.astype(np.float64),
            nodes.astype(np.int32), np.full(len(pts), _LAST, dtype=np.int32))


@dataclass(eq=False)
class Labels:
    """The k nearest stations of every node of ``graph`` (see the module docstring).

    ``station`` (int32, n × k; -1 empty), ``time_s`` / ``dist_m`` (float32; inf empty), ``next_node``
    (int32; -1 along the station's own street, -2 empty), ``count`` (labels held per node). Stations are
    *slots* 0..m-1 of ``targets`` (their snapped positions); a removed slot stays, marked dead in
    ``alive`` (never returned), and new stations take new slots. ``ids``: a station id per slot (None for
    a dead one)."""

    graph: StreetGraph
    k: int
    limit_s: float
    station: npt.NDArray[np.int32]
    time_s: npt.NDArray[np.float32]
    dist_m: npt.NDArray[np.float32]
    next_node: npt.NDArray[np.int32]
    count: npt.NDArray[np.int32]
    targets: Snapped
    alive: npt.NDArray[np.bool_]
    ids: npt.NDArray[np.object_]
    key: str = ""
    source_lon: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    source_lat: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    """The stations' coordinates as given (WGS84, per slot): a later set is compared with them to tell
    which stations moved."""
    max_snap_m: float | None = None
    """The snapping distance the stations were placed with (those farther from every street are left out)."""
    _on: tuple[Any, ...] | None = field(default=None, repr=False)

    # -- sizes ----------------------------------------------------------------------------------------
    @property
    def n_slots(self) -> int:
        return len(self.alive)

    @property
    def nbytes(self) -> int:
        """Bytes held by the label arrays."""
        return sum(a.nbytes for a in (self.station, self.time_s, self.dist_m, self.next_node, self.count))

    def node_time_s(self) -> FloatArray:
        """Every node's time (s) to its nearest station (inf: none within the limit), float64."""
        return np.where(self.count > 0, self.time_s[:, 0].astype(np.float64), np.inf)

    def node_station(self) -> IntArray:
        """Every node's nearest station slot (-1: none)."""
        return np.where(self.count > 0, self.station[:, 0], -1).astype(np.int64)

    # -- queries ----------------------------------------------------------------------------------------
    def _on_street(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
        """The live, snapped stations sorted by street: (street, slot, fraction, access leg s, access leg m)."""
        if self._on is None:
            ok = np.flatnonzero(self.targets.ok & self.alive)
            order = ok[np.argsort(self.targets.street[ok], kind="stable")]
            leg_m = np.asarray(self.targets.distance_m, dtype=np.float64)[order]
            self._on = (self.targets.street[order].astype(np.int64), order.astype(np.int64),
                        self.targets.fraction[order].astype(np.float64), access_s(self.graph, leg_m), leg_m)
        return self._on

    def query(self, snapped: Snapped, *, k: int | None = None
              ) -> tuple[IntArray, FloatArray, FloatArray, npt.NDArray[np.int8]]:
        """The ``k`` (≤ the labels' k) quickest stations of each snapped point: slot (-1: none), travel_s,
        distance_m (inf: none) and the way (0 through the street's v end, 1 through u, 2 directly along
        it), arrays ``(n_points, k)``: whole trips, both access legs included. Exact: equal to a Dijkstra
        from the point to every station."""
        k = self.k if k is None else int(k)
        if not 1 <= k <= self.k:
            raise ValueError(f"these labels keep {self.k} stations per node; ask for 1 to {self.k}")
        g = self.graph
        q = len(snapped)
        out_j = np.full((q, k), -1, dtype=np.int64)
        out_t = np.full((q, k), np.inf)
        out_d = np.full((q, k), np.inf)
        out_v = np.zeros((q, k), dtype=np.int8)
        s = np.where(snapped.ok, snapped.street, -1).astype(np.int64)
        f = np.where(snapped.ok, snapped.fraction, 0.0).astype(np.float64)
        leg_m = np.where(snapped.ok, snapped.distance_m, 0.0).astype(np.float64)
        if q and g.n_nodes:
            _query(s, f, access_s(g, leg_m), leg_m, k, self.limit_s, g.street_u, g.street_v, g.street_travel_s,
                   g.street_length_m, g.street_forward, g.street_backward, self.station, self.time_s, self.dist_m,
                   self.count, *self._on_street(), out_j, out_t, out_d, out_v)
        return out_j, out_t, out_d, out_v

    def route_pieces(self, snapped: Snapped, slot: IntArray, via: npt.NDArray[np.int8]
                     ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """The pieces ``(route, street, f_from, f_to)`` of the routes of a :meth:`query` answer, in travel
        order (``route = point * k + rank``)."""
        g = self.graph
        s = np.where(snapped.ok, snapped.street, 0).astype(np.int64)
        f = np.where(snapped.ok, snapped.fraction, 0.0).astype(np.float64)
        return _route_pieces(s, f, np.ascontiguousarray(slot, dtype=np.int64), np.ascontiguousarray(via),
                             g.street_u, g.street_v, g.street_travel_s, g.street_forward, g.street_backward,
                             g.indptr, g.indices, g.edge_street, g.edge_forward, self.station, self.next_node,
                             self.count, self.targets.street.astype(np.int64),
                             self.targets.fraction.astype(np.float64))

    # -- edits ------------------------------------------------------------------------------------------
    def copy(self) -> Labels:
        """A deep copy of the label arrays (the graph is shared)."""
        return Labels(graph=self.graph, k=self.k, limit_s=self.limit_s, station=self.station.copy(),
                      time_s=self.time_s.copy(), dist_m=self.dist_m.copy(), next_node=self.next_node.copy(),
                      count=self.count.copy(), targets=self.targets.take(np.arange(self.n_slots)),
                      alive=self.alive.copy(), ids=self.ids.copy(), key="", source_lon=self.source_lon,
                      source_lat=self.source_lat, max_snap_m=self.max_snap_m)

    def with_changes(self, *, remove: npt.ArrayLike = (), add: Snapped | None = None,
                     add_ids: npt.ArrayLike = ()) -> Labels:
        """A copy with the station ``slots`` in ``remove`` removed and the stations ``add`` (snapped,
        with ids ``add_ids``) added as new slots: the nodes whose labels named a removed station are
        repaired from their neighbours' labels, then one bounded search runs from the added stations.
        A move is a removal and an addition. Equal to :func:`build_labels` on the resulting stations."""
        new = self.copy()
        new.remove(remove)
        if add is not None and len(add):
            new.add(add, add_ids)
        return new

    def remove(self, slots: npt.ArrayLike) -> int:
        """Remove stations in place (their slots die); returns the number of nodes repaired."""
        slots = np.unique(np.asarray(slots, dtype=np.int64))
        if not len(slots):
            return 0
        g = self.graph
        gone = np.zeros(self.n_slots, dtype=np.bool_)
        gone[slots] = True
        self.alive[slots] = False
        self.ids[slots] = None
        self._on = None
        hit = _drop(self.station, self.time_s, self.dist_m, self.next_node, self.count, gone)
        if len(hit) == 0:
            return 0
        allowed = np.zeros(g.n_nodes, dtype=np.bool_)
        allowed[hit] = True
        st, sj, sd, sx, sy = _repair_seeds(hit, g.indptr, g.indices, g.edge_travel_s, g.edge_length_m,
                                           self.station, self.time_s, self.dist_m, self.count)
        # and the live stations whose own street ends at a repaired node
        live = np.flatnonzero(self.alive & self.targets.ok)
        at, aj, ad, ax, ay = _seeds(g, self.targets, live)
        mine = allowed[ax]
        rp, rs, rt, rl = _reverse_arrays(g)
        _search(rp, rs, rt, rl, np.concatenate([st, at[mine]]), np.concatenate([sj, aj[mine]]),
                np.concatenate([sd, ad[mine]]), np.concatenate([sx, ax[mine]]), np.concatenate([sy, ay[mine]]),
                self.station, self.time_s, self.dist_m, self.next_node, self.count, self.k, self.limit_s,
                False, allowed, True)
        return len(hit)

    def add(self, more: Snapped, ids: npt.ArrayLike = ()) -> IntArray:
        """Add stations in place as new slots; returns their slots."""
        ids_a = np.asarray(list(ids) if len(ids) else [None] * len(more), dtype=object)
        first = self.n_slots
        self.targets = Snapped(*(np.concatenate([getattr(self.targets, f), getattr(more, f)])
                                 for f in ("street", "fraction", "distance_m", "lon", "lat", "ok")))
        self.alive = np.concatenate([self.alive, np.ones(len(more), dtype=np.bool_)])
        self.ids = np.concatenate([self.ids, ids_a])
        self._on = None
        slots = np.arange(first, first + len(more), dtype=np.int64)
        ok = slots[more.ok]
        if len(ok) and self.graph.n_nodes:
            g = self.graph
            rp, rs, rt, rl = _reverse_arrays(g)
            _search(rp, rs, rt, rl, *_seeds(g, self.targets, ok), self.station, self.time_s, self.dist_m,
                    self.next_node, self.count, self.k, self.limit_s, True, np.zeros(1, dtype=np.bool_), False)
        return slots

    # -- disk -------------------------------------------------------------------------------------------
    _ARRAYS = ("station", "time_s", "dist_m", "next_node", "count")

    def save(self, folder: str | Path, *, extra: dict[str, np.ndarray] | None = None) -> None:
        """Write the labels to ``folder`` (one ``.npy`` per array, memory-mappable, plus ``meta.json``, and
        the arrays in ``extra`` by name); written to a new folder of this process's own and renamed into
        place."""
        import os
        import shutil
        import threading

        folder = Path(folder)
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for name in self._ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name))
        for name in ("street", "fraction", "distance_m", "lon", "lat", "ok"):
            np.save(tmp / f"target_{name}.npy", getattr(self.targets, name))
        np.save(tmp / "alive.npy", self.alive)
        if self.source_lon is not None and self.source_lat is not None:
            np.save(tmp / "source_lon.npy", self.source_lon)
            np.save(tmp / "source_lat.npy", self.source_lat)
        for name, arr in (extra or {}).items():
            np.save(tmp / f"{name}.npy", arr)
        meta = {"format": LABELS_FORMAT, "k": self.k, "limit_s": self.limit_s, "key": self.key,
                "max_snap_m": self.max_snap_m,
                "graph": self.graph.cache_key, "ids": [None if i is None else str(i) for i in self.ids]}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # another process put the same labels there first
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: str | Path, graph: StreetGraph, *, mmap: bool = True) -> Labels:
        """Labels written by :meth:`save` for ``graph``, memory-mapped read-only (copied on the first
        edit: :meth:`with_changes`)."""
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["format"] != LABELS_FORMAT or meta["graph"] != graph.cache_key:
            raise ValueError(f"{folder}: labels of another format or graph")
        mode = "r" if mmap else None
        arrays = {name: npy.load(folder / f"{name}.npy", mmap_mode=mode) for name in cls._ARRAYS}
        targets = Snapped(*(npy.load(folder / f"target_{name}.npy")
                            for name in ("street", "fraction", "distance_m", "lon", "lat", "ok")))
        src = [npy.load(folder / f"source_{c}.npy") if (folder / f"source_{c}.npy").exists() else None
               for c in ("lon", "lat")]
        return cls(graph=graph, k=int(meta["k"]), limit_s=float(meta["limit_s"]), targets=targets,
                   alive=npy.load(folder / "alive.npy"), ids=np.array(meta["ids"], dtype=object), key=meta["key"],
                   source_lon=src[0], source_lat=src[1], max_snap_m=meta.get("max_snap_m"), **arrays)


def build_labels(graph: StreetGraph, targets: Snapped, *, k: int, limit_s: float,
                 ids: npt.ArrayLike | None = None) -> Labels:
    """The labels of the stations ``targets`` (snapped; those not ``ok`` are never reached) on ``graph``:
    one bounded label-setting search (see the module docstring). ``limit_s``: nothing farther is
    searched (``inf`` for no bound)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    n, m = graph.n_nodes, len(targets)
    lab = Labels(graph=graph, k=int(k), limit_s=float(limit_s), station=np.full((n, k), -1, dtype=np.int32),
                 time_s=np.full((n, k), np.inf, dtype=np.float32), dist_m=np.full((n, k), np.inf, dtype=np.float32),
                 next_node=np.full((n, k), _EMPTY, dtype=np.int32), count=np.zeros(n, dtype=np.int32),
                 targets=targets, alive=np.ones(m, dtype=np.bool_),
                 ids=np.asarray(list(ids) if ids is not None else range(m), dtype=object))
    ok = np.flatnonzero(targets.ok)
    if n and len(ok):
        rp, rs, rt, rl = _reverse_arrays(graph)
        _search(rp, rs, rt, rl, *_seeds(graph, targets, ok.astype(np.int64)), lab.station, lab.time_s,
                lab.dist_m, lab.next_node, lab.count, lab.k, lab.limit_s, False, np.zeros(1, dtype=np.bool_), False)
    return lab


def warm_edit_kernels() -> None:
    """Load the compiled code of edits in place (removal, repair, addition) from numba's cache, on a
    three-node graph: a service does it at start so that its first edit does not pay for it."""
    g = StreetGraph.from_arrays(node_lon=[121.0, 121.001, 121.002], node_lat=[31.0, 31.0, 31.0],
                                edge_u=[0, 1], edge_v=[1, 2])
    st = Snapped(street=np.array([0, 1]), fraction=np.array([0.5, 0.5]), distance_m=np.zeros(2),
                 lon=np.zeros(2), lat=np.zeros(2), ok=np.ones(2, dtype=bool))
    build_labels(g, st, k=2, limit_s=3600.0).with_changes(remove=[0], add=st.take(np.array([0])), add_ids=["x"])


def content_key(graph: StreetGraph, lon: FloatArray, lat: FloatArray, ids: npt.NDArray[Any], *, k: int,
                limit_s: float, max_snap_m: float) -> str:
    """The key of a station set's labels on ``graph``: the graph's own key, every station's id and
    position, k, the limit, the snapping distance and the format."""
    h = hashlib.sha256()
    h.update(f"{graph.cache_key};{LABELS_FORMAT};k={k};limit={limit_s!r};snap={max_snap_m!r}".encode())
    h.update(np.ascontiguousarray(lon, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(lat, dtype=np.float64).tobytes())
    h.update("\x1f".join(map(str, np.asarray(ids).tolist())).encode())
    return h.hexdigest()


__all__ += ["content_key", "end_access", "warm_edit_kernels"]
