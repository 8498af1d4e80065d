"""Which region answers a point: the one whose outline holds it, else the nearest whose buffer does.

A point inside an outline is answered by the region counting it (:meth:`RegionsWorkspace.owner`, the
first listed where outlines share a border). Its networks reach ``buffer_m`` beyond the outline, so the
point's routes into the neighbour are whole (``docs/regions.md``). A point in no outline (a gap between
outlines, the sea, a sliver left by simplified borders) but inside one or more buffers is answered by the
region whose outline is nearest (distance in metres along the ground, approximately: degrees of longitude
scaled by the cosine of the latitude); beyond every buffer no region answers (-1).

Coordinates WGS84 lon/lat degrees.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from geomap.regions.workspace import RegionsWorkspace

__all__ = ["RegionRouter"]


class RegionRouter:
    """Region of each point for a :class:`RegionsWorkspace` (trees over outlines and buffers built once)."""

    def __init__(self, rws: RegionsWorkspace) -> None:
        self.rws = rws
        self._buffers = shapely.STRtree(rws.buffered)

    def region_for(self, lon: Any, lat: Any) -> np.ndarray:
        """The answering region of each WGS84 point (int64; -1: beyond every buffer)."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        out = self.rws.owner(lon, lat)
        rest = np.flatnonzero(out < 0)
        if not len(rest):
            return out
        pts = shapely.points(lon[rest], lat[rest])
        pt, reg = self._buffers.query(pts, predicate="within")
        if not len(pt):
            return out
        scale = np.cos(np.radians(lat[rest][pt]))
        # distance to the outline in a frame where a degree of longitude is as long as one of latitude
        d = np.array([shapely.distance(shapely.transform(self.rws.boundaries[r], lambda xy, s=s: xy * [s, 1.0]),
                                       shapely.Point(lon[rest][p] * s, lat[rest][p]))
                      for p, r, s in zip(pt.tolist(), reg.tolist(), scale.tolist(), strict=True)])
        order = np.lexsort((reg, d, pt))  # per point: nearest outline, then the region listed first
        pt, reg = pt[order], reg[order]
        first = np.r_[True, pt[1:] != pt[:-1]]
        out[rest[pt[first]]] = reg[first]
        return out
