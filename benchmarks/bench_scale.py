"""City-scale engine benchmarks (`python benchmarks/run.py bench_scale`), side by side in one run.

Synthetic cities written as real OSM PBF files by ``scripts/synthetic_city.py`` (lattice streets ~100 m
apart, primary / one-way secondary / residential, some closed to trucks) with a GCJ-02 station list:

* ``100k``: 99,856 street nodes, 1,200 stations;
* ``1m``: 1,000,000 street nodes, 10,000 stations.

Each case runs in a process of its own (peak memory = ``ru_maxrss`` of that process, with the graph loaded
before the build is counted separately). k = 5, 60-minute limit, e-bike graph.

* label build: geomap's bounded label-setting search against the previous per-station build (a Dijkstra
  per station, scipy, limited to 60 min, top 5 per node kept, chunked; at 1M nodes run on 100 stations
  and extrapolated linearly, as stated) and pandana (``set_pois`` with the same 60-minute limit and 5
  items + ``nearest_pois``; pandana's ``precompute`` is for aggregation queries and is not needed here);
* the service (``geomap serve``, four modes): time until ``/healthz`` answers with no labels on disk
  (graphs cached) and with cached labels, resident memory when ready; ``/nearest`` with routes under wrk
  at 64 connections (median and p99, random points near streets, GCJ-02); an add, a move and a delete
  through the admin API until ``/nearest`` at that place shows them;
* the published map with its service-circle bands for the 1,200 stations of the 100k city.

Goals (issue 17; benchmarks, never timed tests), 1M nodes / 10,000 stations: labels ≤ 10 s and ≤ 300 MB
per mode; service ready ≤ 60 s from cached graphs, ≤ 10 s with cached labels, RSS ≤ 4 GB; /nearest p99
≤ 20 ms at 64 clients; an edit visible ≤ 1 s; faster than pandana with ≥ 10× less memory; the map of
1,200 stations ≤ 10 s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, write_section  # noqa: E402

WORK = ROOT / "benchmarks" / "_work" / "scale"
SIZES = {"100k": (100_000, 1_200), "1m": (1_000_000, 10_000)}
K = 5
LIMIT_S = 3600.0
TOKEN = "bench-scale"


def city(size: str) -> Path:
    """The generated city's folder (written once): city.osm.pbf and stations_gcj02.csv."""
    from scripts.synthetic_city import write_city

    nodes, stations = SIZES[size]
    folder = WORK / f"city_{size}"
    if not (folder / "city.osm.pbf").exists():
        write_city(folder, nodes=nodes, stations=stations, name="合成市", seed=7)
    return folder


def workspace(size: str) -> Path:
    """A workspace of the city with its stations imported and its graphs built (cached)."""
    from geomap.workspace import init_workspace, open_workspace

    folder = WORK / f"ws_{size}"
    if not (folder / "geomap.toml").exists():
        src = city(size)
        ws = init_workspace(folder, name=f"合成市（{size}）", osm=src / "city.osm.pbf", lists_crs="gcj02")
        ws.import_file(src / "stations_gcj02.csv")
    ws = open_workspace(folder)
    ws.graphs()
    return folder


# --- label builds, one process each ----------------------------------------------------------------------

def _child(kind: str, size: str, n_stations: int | None) -> dict[str, Any]:
    """Run one label build in this process and report seconds and peak memory."""
    import resource

    import numpy as np

    from geomap.network.routing import snap_points
    from geomap.workspace import open_workspace

    ws = open_workspace(workspace(size))
    g = ws.graph("ebike")
    st = ws.registry.frame()
    lon, lat = st["lon"].to_numpy(), st["lat"].to_numpy()
    if n_stations is not None:
        lon, lat = lon[:n_stations], lat[:n_stations]
    sn = snap_points(g, lon, lat, errors="ignore")
    for a in ("indptr", "indices", "edge_travel_s", "reverse_src", "reverse_travel_s", "reverse_length_m"):
        np.asarray(getattr(g, a)).sum()  # page the graph in before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "geomap":
        from geomap.network.labels import build_labels

        lab = build_labels(g, sn, k=K, limit_s=LIMIT_S)
        out["first"] = lab.station[:, 0].astype(int).tolist()[:50000]
        out["labels_mb"] = lab.nbytes / 1e6
    elif kind == "per_station":
        from scipy.sparse.csgraph import dijkstra

        from geomap.network.routing import _access_edges, _augmented

        n, m = g.n_nodes, len(sn)
        pts, nodes, cost, _ = _access_edges(g, sn, inbound=True)
        mat = _augmented(g, reverse=True, pts=pts, nodes=nodes, cost=cost, n_virtual=m)
        best_t = np.full((n, K), np.inf, dtype=np.float32)
        best_j = np.full((n, K), -1, dtype=np.int32)
        chunk = max(1, 20_000_000 // (n + m))
        for c0 in range(0, m, chunk):
            ids = np.arange(c0, min(m, c0 + chunk))
            d = np.atleast_2d(dijkstra(mat, directed=True, indices=n + ids, limit=LIMIT_S))[:, :n].T
            t_all = np.concatenate([best_t, d.astype(np.float32)], axis=1)
            j_all = np.concatenate([best_j, np.broadcast_to(ids.astype(np.int32), (n, len(ids)))], axis=1)
            order = np.argsort(t_all, axis=1, kind="stable")[:, :K]
            best_t = np.take_along_axis(t_all, order, axis=1)
            best_j = np.where(np.isfinite(best_t), np.take_along_axis(j_all, order, axis=1), -1)
        out["first"] = best_j[:, 0].astype(int).tolist()[:50000]
    elif kind == "pandana":
        import contextlib
        import io

        import pandana
        import pandas as pd

        with contextlib.redirect_stdout(io.StringIO()):
            net = pandana.Network(pd.Series(g.node_lon), pd.Series(g.node_lat), pd.Series(np.asarray(g.edge_u)),
                                  pd.Series(np.asarray(g.indices)),
                                  pd.DataFrame({"travel_s": np.asarray(g.edge_travel_s)}), twoway=False)
            t0 = time.perf_counter()  # the network's own build is not the question
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ok = sn.ok
            net.set_pois("stations", LIMIT_S, K, pd.Series(lon[ok]), pd.Series(lat[ok]))
            res = net.nearest_pois(LIMIT_S, "stations", num_pois=K, include_poi_ids=True)
        out["rows"] = len(res)
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["graph_mb"] = base
    return out


def _run_child(kind: str, size: str, n_stations: int | None = None, timeout_s: float = 3600) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", kind, size, str(n_stations or 0)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout_s:.0f} s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the service ----------------------------------------------------------------------------------------

def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start(folder: Path, port: int) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "GEOMAP_ADMIN_TOKEN": TOKEN}
    log = open(WORK / f"serve_{port}.log", "wb")  # noqa: SIM115 - closed with the process
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "geomap.cli", "--workspace", str(folder), "serve", "--port",
                             str(port), "--no-access-log"], stdout=log, stderr=subprocess.STDOUT, env=env)
    while True:
        if proc.poll() is not None:
            raise RuntimeError((WORK / f"serve_{port}.log").read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _send(url: str, method: str, body: dict[str, Any] | None = None) -> int:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status


def _until(check: Any, timeout_s: float = 60.0) -> float:
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > timeout_s:
            return float("inf")
        time.sleep(0.01)
    return time.perf_counter() - t0


def bench_service(size: str, port: int) -> dict[str, Any]:
    """Start cold (graphs cached, no labels) and warm (labels cached); wrk; edits."""
    import numpy as np

    from benchmarks.bench_api import WRK_LUA, _wrk
    from geomap import coords
    from geomap.workspace import open_workspace

    folder = workspace(size)
    for p in (folder / "cache").glob("labels_*"):
        shutil.rmtree(p)
    out: dict[str, Any] = {}
    proc, out["start_cold_s"] = _start(folder, port)
    out["rss_cold_mb"] = _rss_mb(proc.pid)
    _stop(proc)
    time.sleep(1)
    proc, out["start_warm_s"] = _start(folder, port)
    out["rss_warm_mb"] = _rss_mb(proc.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        g = open_workspace(folder).graph("ebike")
        rng = np.random.default_rng(5)
        idx = rng.choice(g.n_nodes, 512, replace=False)
        lon, lat = coords.from_wgs84(g.node_lon[idx] + 2e-4, g.node_lat[idx], dst="gcj02")
        lua = WORK / f"nearest_{size}.lua"
        lua.write_text(WRK_LUA % ", ".join(f'"/nearest?lon={a:.6f}&lat={b:.6f}&crs=gcj02&k=5"'
                                           for a, b in zip(lon, lat, strict=True)), encoding="utf-8")
        luas = {"/nearest": lua}
        _wrk(url, "/nearest", 4, luas)  # warm-up
        runs = [_wrk(url, "/nearest", 64, luas) for _ in range(3)]
        out["p50_ms"] = statistics.median(r["p50_ms"] for r in runs)
        out["p99_ms"] = statistics.median(r["p99_ms"] for r in runs)
        out["rps"] = statistics.median(r["rps"] for r in runs)
        out["rss_after_load_mb"] = _rss_mb(proc.pid)
        # edits: until /nearest at the place shows them
        x, y = float(lon[0]), float(lat[0])
        near = f"{url}/nearest?lon={x:.6f}&lat={y:.6f}&crs=gcj02&k=1"

        def first() -> str | None:
            f = _get(near)["features"]
            return f[0]["id"] if f else None

        t0 = time.perf_counter()
        _send(f"{url}/stations", "POST", {"id": "SCALE-1", "name": "压测新站", "kinds": ["驿站"], "lon": x, "lat": y,
                                          "crs": "gcj02", "opening_hours_raw": "24小时"})
        out["add_s"] = time.perf_counter() - t0 + _until(lambda: first() == "SCALE-1")
        x2, y2 = float(lon[1]), float(lat[1])
        near2 = f"{url}/nearest?lon={x2:.6f}&lat={y2:.6f}&crs=gcj02&k=1"
        t0 = time.perf_counter()
        _send(f"{url}/stations/SCALE-1", "PATCH", {"lon": x2, "lat": y2, "crs": "gcj02"})
        out["move_s"] = time.perf_counter() - t0 + _until(
            lambda: (_get(near2)["features"] or [{}])[0].get("id") == "SCALE-1")
        t0 = time.perf_counter()
        _send(f"{url}/stations/SCALE-1", "DELETE")
        out["delete_s"] = time.perf_counter() - t0 + _until(
            lambda: (_get(near2)["features"] or [{}])[0].get("id") != "SCALE-1")
        out["rss_end_mb"] = _rss_mb(proc.pid)
    finally:
        _stop(proc)
    return out


def bench_map(size: str) -> dict[str, Any]:
    """The published map with 5/10/15-minute bands of all the stations (e-bike), in this process."""
    from geomap.publish.maps import render_map
    from geomap.workspace import open_workspace

    ws = open_workspace(workspace(size))
    g = ws.graph("ebike")
    times, html = [], ""
    for _ in range(3):
        g.__dict__.pop("_station_labels", None)  # every build from the stations, not a cached field
        t0 = time.perf_counter()
        html = render_map(ws.registry, graph=g, osm_path=ws.osm_path, place=ws.name)
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "stations": len(ws.registry), "html_mb": len(html) / 1e6}


# --- report -----------------------------------------------------------------------------------------------

def _fmt(v: Any, unit: str = "", nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    return f"{v:,.{nd}f}{unit}"


def main(sizes: tuple[str, ...] = ("100k", "1m")) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    rows, svc, maps = {}, {}, {}
    for size in sizes:
        workspace(size)
        n_st = SIZES[size][1]
        rows[size] = {"geomap": _run_child("geomap", size)}
        if size == "100k":
            rows[size]["per_station"] = _run_child("per_station", size)
        else:
            part = _run_child("per_station", size, n_stations=100)
            if "seconds" in part:
                part["seconds_full"] = part["seconds"] * n_st / 100
            rows[size]["per_station"] = part
        rows[size]["pandana"] = _run_child("pandana", size, timeout_s=1800)
        svc[size] = bench_service(size, 18700 + len(svc))
    maps["100k"] = bench_map("100k")
    date = time.strftime("%Y-%m-%d")
    md = [f"## City-scale engine (issue 17; {date}, {machine()})", "",
          "`benchmarks/bench_scale.py`: synthetic cities written as OSM PBF (`scripts/synthetic_city.py`), "
          "k = 5, 60-minute limit, e-bike; each label build in its own process (peak memory above the "
          "loaded graph = `ru_maxrss` after minus before). Ratios are peer / geomap.", "",
          "| city | stations | geomap labels | peak MB above graph | labels MB | per-station build | ratio | "
          "pandana set_pois + nearest_pois | pandana peak MB above graph | ratio (time) | memory ratio |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, r in rows.items():
        gm, ps, pd_ = r["geomap"], r["per_station"], r["pandana"]
        g_s = gm.get("seconds")
        ps_s = ps.get("seconds_full", ps.get("seconds"))
        ps_txt = ps.get("error") or (f"{ps_s:,.1f} s" + (" (extrapolated from 100 stations)" if "seconds_full" in ps
                                                           else ""))
        pd_txt = pd_.get("error") or f"{pd_['seconds']:,.2f} s"
        g_mem = gm.get("peak_mb", 0) - gm.get("graph_mb", 0)
        p_mem = pd_.get("peak_mb", float("nan")) - pd_.get("graph_mb", float("nan"))
        md.append(f"| {size} ({SIZES[size][0]:,} nodes) | {SIZES[size][1]:,} | {_fmt(g_s, ' s')} | "
                  f"{_fmt(g_mem, '', 0)} | "
                  f"{_fmt(gm.get('labels_mb'), '', 0)} | {ps_txt} | "
                  f"{_fmt(ps_s / g_s if ps_s and g_s else None, '×', 1)} | {pd_txt} | {_fmt(p_mem, '', 0)} | "
                  f"{_fmt(pd_['seconds'] / g_s if 'seconds' in pd_ and g_s else None, '×', 1)} | "
                  f"{_fmt(p_mem / g_mem if g_mem > 0 and p_mem == p_mem else None, '×', 1)} |")
    md += ["", "| city | ready, no labels on disk | ready, labels cached | RSS ready (cold / cached) | "
           "/nearest with routes, 64 clients: p50 / p99 | requests/s | add / move / delete visible | RSS after |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size, s in svc.items():
        md.append(f"| {size} | {_fmt(s['start_cold_s'], ' s', 1)} | {_fmt(s['start_warm_s'], ' s', 1)} | "
                  f"{_fmt(s['rss_cold_mb'], '', 0)} / {_fmt(s['rss_warm_mb'], '', 0)} MB | "
                  f"{_fmt(s.get('p50_ms'), ' ms', 1)} / {_fmt(s.get('p99_ms'), ' ms', 1)} | "
                  f"{_fmt(s.get('rps'), '', 0)} | "
                  f"{_fmt(s.get('add_s'), ' s')} / {_fmt(s.get('move_s'), ' s')} / {_fmt(s.get('delete_s'), ' s')} | "
                  f"{_fmt(s.get('rss_end_mb'), '', 0)} MB |")
    for size, r in rows.items():
        a, b = r["geomap"].get("first"), r["per_station"].get("first")
        if a and b and size == "100k":
            same = sum(x == y for x, y in zip(a, b, strict=False)) / min(len(a), len(b))
            md.append(f"\n{size}: nearest station per node equal to the per-station build's for {same:.2%} of the "
                      "first 50,000 nodes (the rest are exact ties in time).")
    m = maps["100k"]
    md += ["", f"Published map with 5/10/15-minute e-bike bands of all {m['stations']:,} stations of the 100k city: "
           f"{m['seconds']:.1f} s (median of 3, labels rebuilt each time; page {m['html_mb']:.1f} MB)."]
    text = "\n".join(md)
    write_section("scale", text)
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, size, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(_child(kind, size, n or None)))
    else:
        chosen = tuple(a for a in sys.argv[1:] if a in SIZES) or ("100k", "1m")
        print(main(chosen))
