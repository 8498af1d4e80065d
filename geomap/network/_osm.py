"""Private: read OSM highway ways into flat arrays (pyosmium for PBF / XML files, or an osmnx graph).

The result, :class:`RawWays`, is the common input of :func:`geomap.network.graph.build_network`: every way that
carries a ``highway`` tag, as a run of node ids with their WGS84 lon/lat (degrees), plus the few tags the
mode profiles look at. A way whose nodes are partly missing from the extract (clipped at its border) is
cut into the runs of nodes that are present; each run keeps the way's id and tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Tags kept per way (everything the profiles in vocab/modes.toml may look at, plus the name).
KEPT_TAG_PREFIXES: tuple[str, ...] = (
    "highway", "name", "oneway", "junction", "access", "foot", "bicycle", "vehicle", "motor_vehicle",
    "motorcar", "hgv", "goods", "motorroad", "area", "service", "maxspeed", "maxweight", "maxheight",
    "cycleway", "moped", "mofa",
)


def _keep_tag(key: str) -> bool:
    return key.startswith(KEPT_TAG_PREFIXES)


@dataclass
class RawWays:
    """Highway ways as flat arrays.

    ``way_id[i]`` and ``tags[i]`` describe way run ``i``, whose nodes are
    ``node_id[offsets[i]:offsets[i+1]]`` at WGS84 ``lon`` / ``lat`` (degrees), in the way's own order.
    """

    way_id: npt.NDArray[np.int64]
    tags: list[dict[str, str]]
    offsets: npt.NDArray[np.int64]
    node_id: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]

    @property
    def n_ways(self) -> int:
        return len(self.way_id)


class _Collector:
    def __init__(self) -> None:
        self.way_id: list[int] = []
        self.tags: list[dict[str, str]] = []
        self.counts: list[int] = []
        self.node_id: list[int] = []
        self.lon: list[float] = []
        self.lat: list[float] = []

    def add(self, wid: int, tags: dict[str, str], nodes: Iterable[tuple[int, float, float, bool]]) -> None:
        run: list[tuple[int, float, float]] = []
        for ref, x, y, valid in nodes:
            if valid:
                run.append((ref, x, y))
            else:
                self._flush(wid, tags, run)
                run = []
        self._flush(wid, tags, run)

    def _flush(self, wid: int, tags: dict[str, str], run: list[tuple[int, float, float]]) -> None:
        if len(run) < 2:
            return
        self.way_id.append(wid)
        self.tags.append(tags)
        self.counts.append(len(run))
        for ref, x, y in run:
            self.node_id.append(ref)
            self.lon.append(x)
            self.lat.append(y)

    def result(self) -> RawWays:
        offsets = np.zeros(len(self.counts) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self.counts, dtype=np.int64), out=offsets[1:])
        return RawWays(
            way_id=np.asarray(self.way_id, dtype=np.int64),
            tags=self.tags,
            offsets=offsets,
            node_id=np.asarray(self.node_id, dtype=np.int64),
            lon=np.asarray(self.lon, dtype=np.float64),
            lat=np.asarray(self.lat, dtype=np.float64),
        )


def read_osm_file(path: str | Path, *, progress: bool = False) -> RawWays:
    """Read every ``highway`` way of an OSM file (``.osm.pbf``, ``.osm``, ``.osm.bz2`` …) with pyosmium.

    Node locations come from the file itself (pyosmium's location cache), in WGS84 degrees.
    """
    import osmium

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"OSM file not found / 找不到 OSM 文件: {path}")
    fp = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    col = _Collector()
    bar = _progress_bar(progress, desc=f"reading {path.name}", unit=" ways")
    for way in fp:
        tags = {t.k: t.v for t in way.tags if _keep_tag(t.k)}
        nodes = []
        for nd in way.nodes:
            loc = nd.location
            ok = loc.valid()
            nodes.append((nd.ref, loc.lon if ok else 0.0, loc.lat if ok else 0.0, ok))
        col.add(way.id, tags, nodes)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return col.result()


def ways_from_overpass(responses: Iterable[dict[str, Any]]) -> RawWays:
    """Turn Overpass API JSON responses (``out;`` of ways plus their nodes) into :class:`RawWays`.

    Raw tags are kept (unlike an osmnx graph, whose ``oneway`` attribute is already interpreted), so the
    same profiles apply to downloaded and file data. Ways repeated across responses are read once.
    """
    node_xy: dict[int, tuple[float, float]] = {}
    ways: dict[int, tuple[dict[str, str], list[int]]] = {}
    for resp in responses:
        for el in resp.get("elements", []):
            kind = el.get("type")
            if kind == "node":
                node_xy[int(el["id"])] = (float(el["lon"]), float(el["lat"]))
            elif kind == "way" and "highway" in el.get("tags", {}):
                tags = {str(k): str(v) for k, v in el["tags"].items() if _keep_tag(str(k))}
                ways[int(el["id"])] = (tags, [int(n) for n in el.get("nodes", [])])
    col = _Collector()
    for wid, (tags, refs) in ways.items():
        col.add(wid, tags, ((r, *node_xy.get(r, (0.0, 0.0)), r in node_xy) for r in refs))
    return col.result()


def _progress_bar(enabled: bool, **kwargs: Any) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(**kwargs)
