"""City-scale engine benchmarks (`python benchmarks/run.py bench_scale`), side by side in one run.

Synthetic cities written as real OSM PBF files by ``scripts/synthetic_city.py`` (lattice streets ~100 m
apart, primary / one-way secondary / residential, some closed to trucks) with a GCJ-02 station list:

* ``10k``: 10,000 street nodes, 120 stations (where every peer finishes);
* ``100k``: 99,856 street nodes, 1,200 stations;
* ``1m``: 1,000,000 street nodes, 10,000 stations.

Each case runs in a process of its own; its peak memory is the peak resident set (``VmHWM``, reset through
``/proc/self/clear_refs`` once the graph is loaded and paged in) minus the resident set at that moment, so
what is measured is the question's own memory. k = 5, e-bike graph, 60-minute limit (the service's); as
pandana does not finish the 60-minute question at 100k nodes within its time-out, the same comparison is
also run with a 15-minute limit (the service circle) at every size.

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
SIZES = {"10k": (10_000, 120), "100k": (100_000, 1_200), "1m": (1_000_000, 10_000)}
SERVICE_SIZES = ("100k", "1m")
SERVICE_WORKERS = (1, 2)
PANDANA_TIMEOUT_S = 600.0
K = 5
LIMIT_S = 3600.0
TOKEN = "bench-scale"
RESULT = "RESULT "
"""What precedes a child's result on its standard output (pandana prints progress there too)."""
NETWORK_BUILT = "pandana network built"
"""What the pandana child prints to standard error once its network (contraction hierarchy) is built."""


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

def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> float:
    """Reset this process's peak resident set to the current one (Linux); returns the current MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _child(kind: str, size: str, n_stations: int | None, limit_s: float = LIMIT_S) -> dict[str, Any]:
    """Run one label build in this process and report seconds and peak memory above the loaded graph."""
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
    base = _reset_peak()
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "geomap":
        from geomap.network.labels import build_labels

        lab = build_labels(g, sn, k=K, limit_s=limit_s)
        out["first"] = lab.station[:, 0].astype(int).tolist()[:50000]
        out["first_s"] = lab.time_s[:, 0].astype(float).tolist()[:50000]
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
            d = np.atleast_2d(dijkstra(mat, directed=True, indices=n + ids, limit=limit_s))[:, :n].T
            t_all = np.concatenate([best_t, d.astype(np.float32)], axis=1)
            j_all = np.concatenate([best_j, np.broadcast_to(ids.astype(np.int32), (n, len(ids)))], axis=1)
            order = np.argsort(t_all, axis=1, kind="stable")[:, :K]
            best_t = np.take_along_axis(t_all, order, axis=1)
            best_j = np.where(np.isfinite(best_t), np.take_along_axis(j_all, order, axis=1), -1)
        out["first"] = best_j[:, 0].astype(int).tolist()[:50000]
        out["first_s"] = best_t[:, 0].astype(float).tolist()[:50000]
    elif kind == "pandana":
        import pandana
        import pandas as pd

        t_net = time.perf_counter()
        net = pandana.Network(pd.Series(g.node_lon), pd.Series(g.node_lat), pd.Series(np.asarray(g.edge_u)),
                              pd.Series(np.asarray(g.indices)),
                              pd.DataFrame({"travel_s": np.asarray(g.edge_travel_s)}), twoway=False)
        out["network_s"] = time.perf_counter() - t_net  # its contraction hierarchy: reusable, like our graph
        out["network_peak_mb"] = _status_mb("VmHWM") - base
        out["network_rss_mb"] = _status_mb("VmRSS") - base  # what it keeps to answer queries
        print(NETWORK_BUILT, file=sys.stderr, flush=True)
        base = _reset_peak()
        t0 = time.perf_counter()
        ok = sn.ok
        net.set_pois("stations", limit_s, K, pd.Series(lon[ok]), pd.Series(lat[ok]))
        res = net.nearest_pois(limit_s, "stations", num_pois=K, include_poi_ids=True)
        out["rows"] = len(res)
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _status_mb("VmHWM") - base
    return out


def _run_child(kind: str, size: str, n_stations: int | None = None, *, limit_s: float = LIMIT_S,
               timeout_s: float = 3600) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", kind, size, str(n_stations or 0), str(limit_s)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        phase = "" if kind != "pandana" else (
            " (set_pois + nearest_pois)" if NETWORK_BUILT in err else " (its network build)")
        return {"error": f"did not finish within {timeout_s / 60:.0f} min{phase}", "timeout": True,
                "network_built": NETWORK_BUILT in err}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    found = [line[line.index(RESULT) + len(RESULT):] for line in proc.stdout.splitlines() if RESULT in line]
    return json.loads(found[-1]) if found else {"error": "no result printed"}


# --- the service ----------------------------------------------------------------------------------------

def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the service, its workers and their map processes)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def _pss_mb(pid: int) -> float:
    """Proportional set size of the process tree (MB): resident memory with shared pages (the memory-mapped
    graphs and labels every worker reads) counted once, not once per process."""
    total = 0.0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _start(folder: Path, port: int, workers: int) -> tuple[subprocess.Popen, float]:
    """Start ``geomap serve`` and wait until every worker has started and ``/healthz`` answers."""
    env = {**os.environ, "GEOMAP_ADMIN_TOKEN": TOKEN}
    path = WORK / f"serve_{port}.log"
    log = open(path, "wb")  # noqa: SIM115 - closed with the process
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "geomap.cli", "--workspace", str(folder), "serve", "--port",
                             str(port), "--no-access-log", "--workers", str(workers)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(path.read_text(errors="replace")[-2000:])
        if path.read_text(errors="replace").count("Application startup complete") >= workers:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return proc, time.perf_counter() - t0
            except OSError:
                pass
        time.sleep(0.05)


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


def _page(url: str) -> bytes:
    with urllib.request.urlopen(f"{url}/map", timeout=60) as r:
        return r.read()


def _map_ready(url: str) -> bool:
    return "地图生成中" not in _page(url)[:4096].decode("utf-8", errors="replace")


def bench_service(size: str, port: int, workers: int) -> dict[str, Any]:
    """Start with no labels on disk (graphs cached), then with labels cached; /nearest under wrk while the
    published map is being built and after; edits; the map rebuilt after an edit."""
    import numpy as np

    from benchmarks.bench_api import RUN_S, WRK_LUA, _wrk
    from geomap import coords
    from geomap.workspace import open_workspace

    folder = workspace(size)
    for p in (folder / "cache").glob("labels_*"):
        shutil.rmtree(p)
    shutil.rmtree(folder / "cache" / "map", ignore_errors=True)
    out: dict[str, Any] = {"workers": workers}
    proc, out["start_cold_s"] = _start(folder, port, workers)
    out["pss_cold_mb"] = _pss_mb(proc.pid)
    _stop(proc)
    time.sleep(1)
    shutil.rmtree(folder / "cache" / "map", ignore_errors=True)  # the warm start builds its map while measured
    proc, out["start_warm_s"] = _start(folder, port, workers)
    t_ready = time.perf_counter()
    out["pss_warm_mb"] = _pss_mb(proc.pid)
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
        _wrk(url, "/nearest", 4, luas)  # warm-up (pages the labels in), while the first map is built
        out["map_first_s"] = time.perf_counter() - t_ready + _until(lambda: _map_ready(url), timeout_s=900)
        _wrk(url, "/nearest", 64, luas)  # a run at the measured concurrency, not counted: the steady state
        runs = [_wrk(url, "/nearest", 64, luas) for _ in range(3)]
        out["p50_ms"] = statistics.median(r["p50_ms"] for r in runs)
        out["p99_ms"] = statistics.median(r["p99_ms"] for r in runs)
        out["rps"] = statistics.median(r["rps"] for r in runs)
        out["errors"] = sum(r["errors"] for r in runs)
        out["pss_after_load_mb"] = _pss_mb(proc.pid)
        # edits: until /nearest at the place shows them (every worker: requests spread over them)
        x, y = float(lon[0]), float(lat[0])
        near = f"{url}/nearest?lon={x:.6f}&lat={y:.6f}&crs=gcj02&k=1"

        def first(u: str) -> str | None:
            f = _get(u)["features"]
            return f[0]["id"] if f else None

        def every_worker(check: Any) -> bool:
            return all(check() for _ in range(4 * workers))

        t0 = time.perf_counter()
        _send(f"{url}/stations", "POST", {"id": "SCALE-1", "name": "压测新站", "kinds": ["驿站"], "lon": x, "lat": y,
                                          "crs": "gcj02", "opening_hours_raw": "24小时"})
        out["add_s"] = time.perf_counter() - t0 + _until(lambda: every_worker(lambda: first(near) == "SCALE-1"))
        x2, y2 = float(lon[1]), float(lat[1])
        near2 = f"{url}/nearest?lon={x2:.6f}&lat={y2:.6f}&crs=gcj02&k=1"
        t0 = time.perf_counter()
        _send(f"{url}/stations/SCALE-1", "PATCH", {"lon": x2, "lat": y2, "crs": "gcj02"})
        out["move_s"] = time.perf_counter() - t0 + _until(
            lambda: every_worker(lambda: first(near2) == "SCALE-1"))
        page_before = _page(url)
        t0 = time.perf_counter()
        _page(url)  # asks for the map of the edited stations: the previous page is served while it builds
        out["map_after_edit_s"] = time.perf_counter() - t0 + _until(lambda: _page(url) != page_before,
                                                                     timeout_s=900)
        t0 = time.perf_counter()
        _send(f"{url}/stations/SCALE-1", "DELETE")
        out["delete_s"] = time.perf_counter() - t0 + _until(
            lambda: every_worker(lambda: first(near2) != "SCALE-1"))
        page_before = _page(url)  # asks for the map after the delete: riders measured while it is rebuilt
        during = _wrk(url, "/nearest", 64, luas)
        out["during_map_p50_ms"], out["during_map_p99_ms"] = during["p50_ms"], during["p99_ms"]
        out["map_still_building"] = _page(url) == page_before
        out["errors"] += during["errors"]
        out["pss_end_mb"] = _pss_mb(proc.pid)
        out["run_s"] = RUN_S
    finally:
        _stop(proc)
    return out


def bench_map(size: str) -> dict[str, Any]:
    """The published map with 5/10/15-minute bands of all the stations (e-bike), and the A3 print poster
    (PDF) with the same bands, in this process; every build from the stations (no labels kept)."""
    import tempfile

    from geomap.publish.maps import render_map
    from geomap.publish.poster import make_poster
    from geomap.workspace import open_workspace

    ws = open_workspace(workspace(size))
    g = ws.graph("ebike")
    times, poster_times, html = [], [], ""
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            g.__dict__.pop("_station_labels", None)  # every build from the stations, not a cached field
            t0 = time.perf_counter()
            html = render_map(ws.registry, graph=g, osm_path=ws.osm_path, place=ws.name)
            times.append(time.perf_counter() - t0)
            g.__dict__.pop("_station_labels", None)
            t0 = time.perf_counter()
            make_poster(ws.registry, Path(tmp) / "poster.pdf", graph=g, osm_path=ws.osm_path, title=ws.name)
            poster_times.append(time.perf_counter() - t0)
        pdf_mb = (Path(tmp) / "poster.pdf").stat().st_size / 1e6
    return {"seconds": statistics.median(times), "stations": len(ws.registry), "html_mb": len(html) / 1e6,
            "poster_s": statistics.median(poster_times), "pdf_mb": pdf_mb}


# --- report -----------------------------------------------------------------------------------------------

def _fmt(v: Any, unit: str = "", nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    return f"{v:,.{nd}f}{unit}"


LIMITS_MIN = (60, 15)
"""The label builds' limits compared (minutes): the service's, and the service circle."""


def main(sizes: tuple[str, ...] = ("10k", "100k", "1m")) -> str:
    import numpy as np

    WORK.mkdir(parents=True, exist_ok=True)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    svc, maps = {}, {}
    for size in sizes:
        workspace(size)
        n_st = SIZES[size][1]
        for minutes in LIMITS_MIN:
            lim = minutes * 60.0
            r = rows[(size, minutes)] = {"geomap": _run_child("geomap", size, limit_s=lim)}
            if minutes == 60:  # today's per-station build, at the service's limit
                if size != "1m":
                    r["per_station"] = _run_child("per_station", size, limit_s=lim)
                else:
                    part = _run_child("per_station", size, n_stations=100, limit_s=lim)
                    if "seconds" in part:
                        part["seconds_full"] = part["seconds"] * n_st / 100
                    r["per_station"] = part
            # pandana's network build does not depend on the limit: once it times out, larger cities are not
            # tried, nor the same city with another limit; a timed-out limit is not tried on larger cities
            stuck = [key for key, v in rows.items() if v.get("pandana", {}).get("timeout")
                     and (not v["pandana"]["network_built"] or key[1] == minutes)]
            r["pandana"] = (
                {"error": f"not run (timed out at {stuck[0][0]}, {stuck[0][1]} min)"} if stuck
                else _run_child("pandana", size, limit_s=lim, timeout_s=PANDANA_TIMEOUT_S))
        if size in SERVICE_SIZES:
            for workers in SERVICE_WORKERS:
                svc[(size, workers)] = bench_service(size, 18700 + len(svc), workers)
    if "100k" in sizes:
        maps["100k"] = bench_map("100k")
    date = time.strftime("%Y-%m-%d")
    md = [f"## City-scale engine (issue 17; {date}, {machine()})", "",
          "`benchmarks/bench_scale.py`: synthetic cities written as OSM PBF (`scripts/synthetic_city.py`), "
          "k = 5, e-bike; each label build in its own process; peak MB = the build's peak resident set above "
          "the loaded graph (`VmHWM` reset when the graph is in memory). Ratios are peer / geomap. "
          "pandana = `set_pois` + `nearest_pois` with the same limit and k, on its `Network` built before "
          "(its contraction hierarchy, reusable for any station set like our graph; its build shown apart; "
          "its memory = the network it holds to answer plus the query's peak, or the network build's peak when "
          "higher; time-outs: " + f"{PANDANA_TIMEOUT_S / 60:.0f} min per run).", "",
          "| city | stations | limit | geomap labels | peak MB | labels MB | per-station build | ratio | "
          "pandana | pandana MB (network + query) | ratio (time) | memory ratio | "
          "pandana network build (time / peak MB) |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (size, minutes), r in rows.items():
        gm, ps, pd_ = r["geomap"], r.get("per_station", {"error": "—"}), r["pandana"]
        g_s = gm.get("seconds")
        ps_s = ps.get("seconds_full", ps.get("seconds"))
        ps_txt = ps.get("error") or (f"{ps_s:,.1f} s" + (" (extrapolated from 100 stations)" if "seconds_full" in ps
                                                           else ""))
        pd_txt = pd_.get("error") or f"{pd_['seconds']:,.2f} s"
        g_mem = gm.get("peak_mb")
        # pandana's memory for the question: its network (kept to answer) plus the query's peak, or the
        # network build's own peak when higher
        p_mem = (max(pd_["network_peak_mb"], pd_["network_rss_mb"] + pd_["peak_mb"])
                 if "network_rss_mb" in pd_ and "peak_mb" in pd_ else None)
        net_txt = (f"{pd_['network_s']:,.0f} s / {pd_['network_peak_mb']:,.0f}" if "network_s" in pd_ else "—")
        md.append(f"| {size} ({SIZES[size][0]:,} nodes) | {SIZES[size][1]:,} | {minutes} min | {_fmt(g_s, ' s')} | "
                  f"{_fmt(g_mem, '', 1)} | {_fmt(gm.get('labels_mb'), '', 1)} | {ps_txt} | "
                  f"{_fmt(ps_s / g_s if ps_s and g_s else None, '×', 1)} | {pd_txt} | {_fmt(p_mem, '', 1)} | "
                  f"{_fmt(pd_['seconds'] / g_s if 'seconds' in pd_ and g_s else None, '×', 1)} | "
                  f"{_fmt(p_mem / g_mem if g_mem and p_mem else None, '×', 1)} | {net_txt} |")
    md += ["", "The service (`geomap serve --workers N --no-access-log`, four modes; memory = proportional set size "
           "of the whole process tree, workers and map processes, shared memory-mapped pages counted once). "
           "/nearest: e-bike, k = 5 with routes, 512 street points in GCJ-02, wrk at 64 connections on the same "
           "two cores; median of 3 runs; \"while the map is rebuilt\": a run started as the map of the edited "
           "stations is asked for (the map process runs at idle priority). An edit is visible when /nearest at "
           "the place shows it from every worker.", "",
           "| city | workers | ready, no labels on disk | ready, labels cached | memory ready (cold / cached) | "
           "/nearest p50 / p99 | requests/s | /nearest p50 / p99 while the map is rebuilt | add / move / delete "
           "visible | map: first / after an edit | memory after |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (size, workers), s in svc.items():
        during = (f"{_fmt(s.get('during_map_p50_ms'), ' ms', 1)} / {_fmt(s.get('during_map_p99_ms'), ' ms', 1)}"
                  + ("" if s.get("map_still_building") else " (rebuilt before the run ended)"))
        md.append(f"| {size} | {workers} | {_fmt(s['start_cold_s'], ' s', 1)} | {_fmt(s['start_warm_s'], ' s', 1)} | "
                  f"{_fmt(s['pss_cold_mb'], '', 0)} / {_fmt(s['pss_warm_mb'], '', 0)} MB | "
                  f"{_fmt(s.get('p50_ms'), ' ms', 1)} / {_fmt(s.get('p99_ms'), ' ms', 1)} | "
                  f"{_fmt(s.get('rps'), '', 0)} | {during} | "
                  f"{_fmt(s.get('add_s'), ' s')} / {_fmt(s.get('move_s'), ' s')} / {_fmt(s.get('delete_s'), ' s')} | "
                  f"{_fmt(s.get('map_first_s'), ' s', 1)} / {_fmt(s.get('map_after_edit_s'), ' s', 1)} | "
                  f"{_fmt(s.get('pss_end_mb'), '', 0)} MB |")
    for (size, _), r in rows.items():
        gm, ps = r["geomap"], r.get("per_station", {})
        if "first" in gm and "first" in ps and "seconds_full" not in ps:  # only a build over the same stations
            a, b = np.asarray(gm["first"]), np.asarray(ps["first"])
            ta, tb = np.asarray(gm["first_s"]), np.asarray(ps["first_s"])
            same_t = np.isclose(ta, tb, rtol=1e-5, atol=0.01) | (np.isinf(ta) & np.isinf(tb))
            md.append(f"\n{size}: of the first {len(a):,} nodes, the nearest station's travel time equals the "
                      f"per-station build's at {same_t.mean():.2%} and the station itself at {(a == b).mean():.2%} "
                      f"(different station, same time: {((a != b) & same_t).sum():,} ties).")
    m = maps.get("100k")
    if m is not None:
        md += ["", f"Published map with 5/10/15-minute e-bike bands of all {m['stations']:,} stations of the 100k "
               f"city: {m['seconds']:.1f} s (median of 3, labels rebuilt each time; page {m['html_mb']:.1f} MB); "
               f"the A3 poster (PDF) with the same bands: {m['poster_s']:.1f} s ({m['pdf_mb']:.1f} MB)."]
    text = "\n".join(md)
    write_section("scale", text)
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, size, n, lim = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
        print(RESULT + json.dumps(_child(kind, size, n or None, lim)))
    else:
        chosen = tuple(a for a in sys.argv[1:] if a in SIZES) or tuple(SIZES)
        print(main(chosen))
