"""Coverage and gaps of every region, one task per region on Dask (``dask.distributed``).

:func:`run_batch` sends each region that has no cached result to a Dask cluster: a local one of
``workers`` processes (one thread each) by default, or an existing one by its scheduler address
(``tcp://host:8786``). A task is given paths and names only (:func:`region_task`): it opens the workspace
inside the worker, clips the region's extract and builds or memory-maps its graphs there, so no street
graph ever goes through the scheduler; it answers with the region's small tables.

**Cached by inputs.** Each region's result is written by its task to ``cache/batch/<task>/<key>-<hash>.json``
in the workspace, the hash covering everything the answer depends on: the region's extract (content
fingerprint), every region's outline (the owner rule reads them all), the buffer, the settings, the
stations it routes to (ids, places, kinds, amenities, hours) and which of them it owns, the task's
parameters and :data:`BATCH_FORMAT`. A rerun reads what is there and computes only what is missing, so
after a failure only the failed regions run again.

**Failures**: a region whose task raises is reported (``failed``: key → the error) and the others
complete. A worker that dies mid-task (killed, out of memory) is not a failure: the scheduler gives its
tasks to another worker (Dask's ``allowed-failures``, 3 by default).

Results merge into one table per region and one per 街道 (:class:`BatchResult`), or one gap grid.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geomap.regions.workspace import RegionsWorkspace, open_regions

__all__ = ["BATCH_FORMAT", "TASKS", "BatchResult", "cache_keys", "region_task", "run_batch"]

BATCH_FORMAT = 1
"""Version of the cached results' layout and meaning; bump it when the computation changes."""

TASKS = ("coverage", "gaps", "build", "report", "circles")
"""``coverage`` (tables), ``gaps`` (H3 grid), ``build`` (clip the extract and build the graphs only),
``report`` (the region's planner report written to a folder, and the coverage tables: geomap.regions.report),
``circles`` (service-circle areas, :mod:`geomap.regions.circles`)."""

OUTPUT_PARAMS = frozenset({"out_dir", "pdf"})
"""Task parameters saying where an answer is written, not what it is: left out of the cache key."""


@dataclass
class BatchResult:
    """The merged result of a batch. ``regions``: one row per region that finished (coverage);
    ``subdistricts``: one row per 街道 of those regions (coverage); ``cells``: the gap grid (gaps,
    GeoDataFrame; for circles: the merged rings, :func:`geomap.regions.circles.merge_circles`); ``failed``:
    region key → error text; ``cached`` / ``computed``: which regions were read
    from the cache and which ran; ``payloads``: each region's own answer (key → dict)."""

    task: str
    regions: pd.DataFrame
    subdistricts: pd.DataFrame
    cells: Any
    failed: dict[str, str]
    cached: list[str]
    computed: list[str]
    payloads: dict[str, dict[str, Any]] = field(repr=False)
    seconds: float = 0.0

    @property
    def worker_peak_mb(self) -> dict[int, float]:
        """The peak resident memory (MB) of each process that ran a task this time, by process id."""
        out: dict[int, float] = {}
        for key in self.computed:
            p = self.payloads[key]
            out[p["pid"]] = max(out.get(p["pid"], 0.0), p["peak_rss_mb"])
        return out


def _stations_hash(frame: pd.DataFrame, i: int) -> str:
    cols = ["id", "lon", "lat", "kinds", "amenities", "opening_hours"]
    part = frame[[c for c in cols if c in frame.columns]].astype(str).assign(own=(frame["region"] == i).astype(str))
    h = hashlib.sha256()
    for row in part.sort_values("id").itertuples(index=False):
        h.update("\x1f".join(map(str, row)).encode())  # a missing value stays NaN under astype(str)
        h.update(b"\x1e")
    return h.hexdigest()


def cache_keys(rws: RegionsWorkspace, task: str, params: dict[str, Any], *, frame: pd.DataFrame | None = None,
               indices: Sequence[int] | None = None) -> dict[int, str]:
    """The cache key (hex) of each region's result for ``task`` with ``params`` (see the module docstring)."""
    from geomap.network.graph import source_fingerprint

    params = {k: v for k, v in params.items() if k not in OUTPUT_PARAMS}
    frame = rws.stations() if frame is None else frame
    indices = range(len(rws.specs)) if indices is None else indices
    settings = rws.settings.model_dump(mode="json", exclude={"admin_token", "amap_key", "tianditu_server_key"})
    outlines = [shapely.to_wkb(b).hex() for b in rws.boundaries]
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    fingerprints: dict[Path, str] = {}
    out = {}
    for i in indices:
        spec = rws.specs[i]
        files = {}
        for name in ("osm_path", "population_path", "subdistricts_path"):
            p = getattr(spec, name)
            if p is not None:
                if p not in fingerprints:
                    fingerprints[p] = source_fingerprint(p)
                files[name] = fingerprints[p]
        near = rws.near(i, lon, lat)
        blob = {"format": BATCH_FORMAT, "task": task, "params": params, "spec": spec.model_dump(mode="json"),
                "files": files, "outlines": outlines, "index": i, "buffer_m": rws.buffer_m, "settings": settings,
                "stations": _stations_hash(frame[near], i)}
        out[i] = hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()
    return out


def _cache_file(root: Path, cache_dir: Path, task: str, key: str, digest: str) -> Path:
    return cache_dir / "batch" / task / f"{key}-{digest[:24]}.json"


def region_task(root: str, key: str, task: str, params: dict[str, Any], cache_file: str | None) -> dict[str, Any]:
    """One region's work, run inside a Dask worker (or in this process): open the workspace at ``root``,
    compute ``task`` for region ``key`` with ``params``, write the answer to ``cache_file`` (JSON, written
    under a temporary name then renamed) and return it, with the process id, its peak resident memory (MB)
    and the seconds taken."""
    from geomap.regions.planning import region_coverage, region_gaps

    t0 = time.perf_counter()
    rws = open_regions(root)
    i = rws.index_of(key)
    if task == "coverage":
        payload = region_coverage(rws, i, **params)
    elif task == "gaps":
        payload = region_gaps(rws, i, **params)
    elif task == "report":
        from geomap.regions.report import region_report

        payload = region_report(rws, i, cache_file=cache_file, **params)
    elif task == "circles":
        from geomap.regions.circles import region_circles

        payload = region_circles(rws, i, **params)
    elif task == "build":
        ws = rws.region(i)
        graphs = ws.graphs(params.get("modes"))
        payload = {"key": key, "name": rws.specs[i].name, "nodes": {m: g.n_nodes for m, g in graphs.items()}}
    else:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    payload.update(pid=os.getpid(), peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                   seconds=time.perf_counter() - t0)
    if cache_file is not None:
        path = Path(cache_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False, default=_jsonable), encoding="utf-8")
        tmp.replace(path)
    return payload


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.bool_):
        return bool(v)
    return str(v)


def run_batch(rws: RegionsWorkspace, task: str = "coverage", *, params: dict[str, Any] | None = None,
              keys: Sequence[str] | None = None, workers: int | None = None, scheduler: str | None = None,
              use_cache: bool = True, progress: bool = True) -> BatchResult:
    """Run ``task`` (:data:`TASKS`) for every region (or those in ``keys``) and merge the answers.

    ``workers=0``: in this process, one region after the other (the reference run). Else on Dask: the
    cluster at ``scheduler`` (``tcp://…``) when given, otherwise a local cluster of ``workers`` processes
    (default: the machine's cores) started and closed here. ``use_cache=False`` computes every region and
    writes nothing. ``progress``: a bar on stderr. ``params``: the task's keyword arguments (``minutes``,
    ``mode``, ``kind``, ``amenity``, ``open_at``, ``with_area``; ``resolution`` for gaps; ``modes`` for build;
    ``minutes`` (a list) and ``mode`` for circles).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    t0 = time.perf_counter()
    params = dict(params or {})
    indices = [rws.index_of(k) for k in keys] if keys else list(range(len(rws.specs)))
    frame = rws.stations()
    digests = cache_keys(rws, task, params, frame=frame, indices=indices)
    files = {i: _cache_file(rws.root, rws.cache_dir, task, rws.specs[i].key, digests[i]) for i in indices}
    payloads: dict[str, dict[str, Any]] = {}
    cached: list[str] = []
    if use_cache:
        for i in indices:
            if files[i].exists():
                try:
                    payloads[rws.specs[i].key] = json.loads(files[i].read_text(encoding="utf-8"))
                    cached.append(rws.specs[i].key)
                except (OSError, ValueError):
                    files[i].unlink(missing_ok=True)
    todo = [i for i in indices if rws.specs[i].key not in payloads]
    failed: dict[str, str] = {}
    computed: list[str] = []
    jobs = [(str(rws.root), rws.specs[i].key, task, params, str(files[i]) if use_cache else None) for i in todo]
    if jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"{task} 各地区", unit="个地区", file=sys.stderr, disable=not progress)
        try:
            done = _run_local(jobs) if workers == 0 else _run_dask(jobs, workers=workers, scheduler=scheduler)
            for key, ok, value in done:
                if ok:
                    payloads[key] = value
                    computed.append(key)
                else:
                    failed[key] = value
                    bar.write(f"地区 {key} 失败：{value}", file=sys.stderr)
                bar.update(1)
        finally:
            bar.close()
    order = [rws.specs[i].key for i in indices if rws.specs[i].key in payloads]
    regions, subdistricts, cells = _merge(task, [payloads[k] for k in order])
    return BatchResult(task=task, regions=regions, subdistricts=subdistricts, cells=cells, failed=failed,
                       cached=cached, computed=computed, payloads=payloads, seconds=time.perf_counter() - t0)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _run_local(jobs: list[tuple[Any, ...]]) -> Any:
    for job in jobs:
        try:
            yield job[1], True, region_task(*job)
        except Exception as exc:  # a region that fails is reported, the others go on
            yield job[1], False, _error_text(exc)


def _run_dask(jobs: list[tuple[Any, ...]], *, workers: int | None, scheduler: str | None) -> Any:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        n = workers if workers is not None else (os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=max(1, n), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {client.submit(region_task, *job, key=f"geomap-{job[2]}-{job[1]}-{time.time_ns()}", pure=False,
                                 retries=0): job[1] for job in jobs}
        for fut in as_completed(futures):
            key = futures[fut]
            try:
                yield key, True, fut.result()
            except Exception as exc:  # the task raised, or the cluster gave up on it
                yield key, False, _error_text(exc)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _merge(task: str, payloads: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    if task == "coverage":
        regions = pd.DataFrame([p["region"] for p in payloads])
        subdistricts = pd.DataFrame([row for p in payloads for row in p["subdistricts"]])
        return regions, subdistricts, None
    if task == "report":  # the coverage tables, each region's row with its report's file and proposals
        regions = pd.DataFrame([{**p["region"], "file": p["file"]} for p in payloads])
        subdistricts = pd.DataFrame([row for p in payloads for row in p["subdistricts"]])
        return regions, subdistricts, None
    if task == "gaps":
        import geopandas as gpd

        feats = [f for p in payloads for f in p["cells"]["features"]]
        cells = (gpd.GeoDataFrame.from_features(feats, crs="EPSG:4326") if feats
                 else gpd.GeoDataFrame({"region": []}, geometry=[], crs="EPSG:4326"))
        return pd.DataFrame([{"region": p["key"], "region_name": p["name"]} for p in payloads]), pd.DataFrame(), cells
    if task == "circles":
        from geomap.regions.circles import merge_circles

        table = pd.DataFrame([{"region": p["key"], "region_name": p["name"], "stations": p["stations"],
                               "on_network": p["on_network"]} for p in payloads])
        return table, pd.DataFrame(), merge_circles(payloads)
    return pd.DataFrame([{"region": p["key"], "region_name": p["name"], **{f"nodes_{m}": n for m, n in
                                                                         p["nodes"].items()}} for p in payloads]), \
        pd.DataFrame(), None
