"""The query path: snapping, the labels' look-up, routes and coordinate systems in one compiled call.

A batch of points and one rider's point go through the same kernel (:func:`_answer`): each point is
converted from the rider's system to WGS84, snapped onto its street (the grid search of
:mod:`geomap.network.routing`), ranked against the stations' labels (:mod:`geomap.network.labels`), and
its routes walked along the next hops into vertices, converted into the answer's system. No numpy or
shapely step runs per point in between: a rider's request spends its time in one call, and a batch of a
hundred thousand points in the same code.

Units: seconds, metres, degrees; coordinate systems named as in :mod:`geomap.coords`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numba import njit

from geomap import coords
from geomap.coords_compiled import forward, inverse
from geomap.network.labels import Labels, _query, _route_pieces
from geomap.network.routing import (
    FAR_M,
    SnapError,
    _linestrings,
    _nearest_node_m,
    _pieces_xy,
    _snap_batch,
    access_s,
)
from geomap.network.routing import _snap_index as snap_index

__all__ = ["Answer", "answer"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_FORWARD = {"wgs84": 0, "gcj02": coords.STEPS[("wgs84", "gcj02")][0], "bd09": coords.STEPS[("wgs84", "bd09")][0]}
"""The forward transform from WGS84 to each system (0: none), as :data:`geomap.coords.FORWARDS`."""


@njit(cache=True, nogil=True)
def _answer(lon, lat, src, dst, k, limit, want_routes, max_snap_m, cap_m, prefer_core,
            core, lon0, lat0, kx, ky, glon, glat, seg_first, seg_street, cumfrac, cell_ptr, cell_seg, x0, y0, c, nx,
            ny,
            street_u, street_v, street_t, street_len, fw, bw, indptr, indices, edge_street, edge_fwd, geom_offsets,
            lab_j, lab_t, lab_d, lab_next, cnt, on_s, on_j, on_f, on_t, on_d, t_street, t_frac, t_lon, t_lat,
            s_per_m):  # pragma: no cover (compiled)
    n = lon.shape[0]
    wl = np.empty(n)
    wa = np.empty(n)
    for p in range(n):  # the rider's system -> WGS84
        wl[p], wa[p] = inverse(lon[p], lat[p], src)
    s, f, dist, _, _, status = _snap_batch(wl, wa, max_snap_m, cap_m, prefer_core, core, lon0, lat0, kx, ky,
                                                 glon, glat, seg_first, seg_street, cumfrac, cell_ptr, cell_seg, x0,
                                                 y0, c, nx, ny)
    leg_d = np.zeros(n)
    for p in range(n):
        if status[p] != 0:
            s[p] = -1
            f[p] = 0.0
        else:
            leg_d[p] = dist[p]
    out_j = np.full((n, k), -1, dtype=np.int64)
    out_t = np.full((n, k), np.inf)
    out_d = np.full((n, k), np.inf)
    out_v = np.zeros((n, k), dtype=np.int8)
    _query(s, f, leg_d * s_per_m, leg_d, k, limit, street_u, street_v, street_t, street_len, fw, bw, lab_j, lab_t,
           lab_d, cnt, on_s, on_j, on_f, on_t, on_d, out_j, out_t, out_d, out_v)
    if not want_routes:
        return out_j, out_t, out_d, dist, status, wl, wa, np.empty(0), np.empty(0), np.empty(0, dtype=np.int64)
    rs = np.where(s >= 0, s, 0)
    rid, ps, pa, pb = _route_pieces(rs, f, out_j, out_v, street_u, street_v, street_t, fw, bw, indptr, indices,
                                    edge_street, edge_fwd, lab_j, lab_next, cnt, t_street, t_frac)
    vx, vy, piece = _pieces_xy(ps, pa, pb, geom_offsets, cumfrac, glon, glat)
    # each route: the rider's point, its street vertices in travel order, the station; consecutive
    # duplicates dropped; into the answer's system
    nv = vx.shape[0]
    ox = np.empty(nv + 2 * n * k)
    oy = np.empty(nv + 2 * n * k)
    og = np.empty(nv + 2 * n * k, dtype=np.int64)
    m = 0
    i = 0
    for p in range(n):
        for rank in range(k):
            j = out_j[p, rank]
            if j < 0:
                continue
            g = p * k + rank
            ox[m], oy[m], og[m] = wl[p], wa[p], g
            m += 1
            while i < nv and rid[piece[i]] == g:
                if not (vx[i] == ox[m - 1] and vy[i] == oy[m - 1]):
                    ox[m], oy[m], og[m] = vx[i], vy[i], g
                    m += 1
                i += 1
            if not (t_lon[j] == ox[m - 1] and t_lat[j] == oy[m - 1]):
                ox[m], oy[m], og[m] = t_lon[j], t_lat[j], g
                m += 1
    for i in range(m):
        ox[i], oy[i] = forward(ox[i], oy[i], dst)
    return out_j, out_t, out_d, dist, status, wl, wa, ox[:m], oy[:m], og[:m]


@dataclass
class Answer:
    """The k quickest stations of each of ``n`` points, arrays ``(n, k)`` (rank 0 the quickest): ``slot``
    (the labels' slot, -1: none), ``travel_s`` and ``distance_m`` (inf: none). Per point: ``snap_m``
    (metres to its street; for a point with no street within 5 km the distance to the nearest street
    node), ``ok`` (snapped within ``max_snap_m``), ``lon`` / ``lat`` (WGS84). Routes: their vertices
    ``route_lon`` / ``route_lat`` in the answer's system, in travel order, grouped by ``route_group``
    (``point * k + rank``)."""

    slot: IntArray
    travel_s: FloatArray
    distance_m: FloatArray
    snap_m: FloatArray
    ok: npt.NDArray[np.bool_]
    lon: FloatArray
    lat: FloatArray
    route_lon: FloatArray | None = None
    route_lat: FloatArray | None = None
    route_group: IntArray | None = None
    _lines: npt.NDArray[np.object_] | None = field(default=None, repr=False)

    def routes(self) -> npt.NDArray[np.object_] | None:
        """The routes as shapely LineStrings, shape of ``slot`` (None where no station; made once)."""
        if self.route_group is None:
            return None
        if self._lines is None:
            q, k = self.slot.shape
            self._lines = _linestrings(self.route_lon, self.route_lat, self.route_group, q * k).reshape(q, k)
        return self._lines

    def route_coords(self, point: int, rank: int) -> FloatArray:
        """The ``(m, 2)`` vertices of one route (empty when there is none; a route of one position, the
        station where the point is, has it twice: a LineString needs two)."""
        return self.point_routes(point, ranks=[rank])[0]

    def point_routes(self, point: int, *, ranks: list[int], decimals: int | None = None) -> list[FloatArray]:
        """:meth:`route_coords` of one point's routes at ``ranks`` (ascending), rounded to ``decimals`` when
        given: one array operation for all of them (a rider's request is one point)."""
        assert self.route_group is not None, "routes were not asked for"
        k = self.slot.shape[1]
        bounds = self.route_group.searchsorted(point * k + np.arange(k + 1)).tolist()
        a, b = bounds[0], bounds[-1]
        xy = np.empty((b - a, 2))
        xy[:, 0], xy[:, 1] = self.route_lon[a:b], self.route_lat[a:b]
        if decimals is not None:
            xy = xy.round(decimals)
        bounds = [n - a for n in bounds]
        out = []
        for r in ranks:
            part = xy[bounds[r]:bounds[r + 1]]
            out.append(np.repeat(part, 2, axis=0) if len(part) == 1 else part)
        return out


def _station_positions(labels: Labels) -> tuple[FloatArray, FloatArray]:
    """Each slot's station as given (WGS84; where a route ends, after its access leg), or where it snapped
    when the labels were built without the given positions."""
    if labels.source_lon is not None and labels.source_lat is not None and len(labels.source_lon) == labels.n_slots:
        return (np.ascontiguousarray(labels.source_lon, dtype=np.float64),
                np.ascontiguousarray(labels.source_lat, dtype=np.float64))
    return (np.ascontiguousarray(labels.targets.lon, dtype=np.float64),
            np.ascontiguousarray(labels.targets.lat, dtype=np.float64))


def answer(labels: Labels, lon: npt.ArrayLike, lat: npt.ArrayLike, *, k: int, crs: str = "wgs84",
           route_crs: str | None = "wgs84", max_snap_m: float, prefer_core: bool = True,
           errors: str = "raise") -> Answer:
    """The ``k`` (≤ the labels' k) quickest stations of points ``lon`` / ``lat`` (in ``crs``) along the
    labels' graph, with routes in ``route_crs`` (None: no routes). Points farther than ``max_snap_m``
    from every street raise :class:`~geomap.network.routing.SnapError` (``errors="raise"``) or get no
    station (``"ignore"``)."""
    if not 1 <= k <= labels.k:
        raise ValueError(f"these labels keep {labels.k} stations per node; ask for 1 to {labels.k}")
    g = labels.graph
    lon_a = np.ascontiguousarray(np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel())
    lat_a = np.ascontiguousarray(np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel())
    src = coords.STEPS.get((coords.normalize_crs(crs), "wgs84"), (0, True))[0]
    dst = _FORWARD[coords.normalize_crs(route_crs)] if route_crs is not None else 0
    si = snap_index(g)
    t_lon, t_lat = _station_positions(labels)
    j, t, d, dist, status, wl, wa, vx, vy, grp = _answer(
        lon_a, lat_a, src, dst, int(k), float(labels.limit_s), route_crs is not None, float(max_snap_m),
        max(FAR_M, 3.0 * max_snap_m), prefer_core, *si.kernel_args(g),
        g.street_u, g.street_v, g.street_travel_s, g.street_length_m, g.street_forward, g.street_backward, g.indptr,
        g.indices, g.edge_street, g.edge_forward, g.geom_offsets,
        labels.station, labels.time_s, labels.dist_m, labels.next_node, labels.count, *labels._on_street(),
        labels.targets.street, labels.targets.fraction, t_lon, t_lat, float(access_s(g, 1.0)))
    ok = status == 0
    unanswered = np.count_nonzero(status) > 0  # status 0 for every point within reach of a street: the usual case
    if unanswered:
        beyond = np.flatnonzero(status == 2)
        if len(beyond):  # no street within the search's reach: the nearest street node is never nearer
            fin = beyond[np.isfinite(wl[beyond]) & np.isfinite(wa[beyond])]
            dist[fin] = _nearest_node_m(g, wl[fin], wa[fin])
    if errors == "raise" and unanswered:
        far = np.flatnonzero(~ok)
        raise SnapError(dist[far], far, max_snap_m)
    ans = Answer(slot=j, travel_s=t, distance_m=d, snap_m=dist, ok=ok, lon=wl, lat=wa)
    if route_crs is not None:
        ans.route_lon, ans.route_lat, ans.route_group = vx, vy, grp
    return ans

