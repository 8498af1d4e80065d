"""Load test of the HTTP service (loopback only, bounded): `/nearest` against `/healthz` on one server.

Starts `geomap serve` on a copy of the sample registry on a free 127.0.0.1 port, waits until the server is
idle (the published map, built in the background at start, is ready), then measures throughput and
p50 / p99 latency at 1, 16 and 64 concurrent connections with `wrk` (Debian's C load generator; `make
bench` installs it: a Python client would spend more CPU than the server on the same two cores), for
`/healthz` (the HTTP floor: routing, JSON, no work) and `/nearest` (e-bike, k=3, with routes, 256 query
points on the street network, in GCJ-02, cycled by a Lua script; and the same with ``route=false``). Each
(endpoint, connections) run lasts
`RUN_S` seconds; the two endpoints alternate within each repeat, and the median over repeats is reported.

Before the servers, the same answer is timed in this process, step by step (the search alone, the
library answer, the GeoJSON dict, its JSON, and the app called as ASGI without sockets; the search also
with cold CPU caches), to show where a request's time goes; during each wrk run the server's CPU time per
request (user and system, from ``/proc``) is read too.

Then a mixed run: 16 readers on `/nearest` while one admin client adds stations and renames one, and
checks that no edit is lost (every added station is served and stored; the last name wins).

The client runs on the same machine and shares its cores with the server, so absolute numbers are a
floor for what a separate client would see; the ratio `/nearest` / `/healthz` is the figure to watch.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, write_section  # noqa: E402
from geomap.api._process import start_server  # noqa: E402

TOKEN = "bench-token"
CLIENTS = (1, 16, 64)
CONFIGS = ((1, True), (2, True), (2, False))  # (workers, access log)
RUN_S = 4            # seconds of one (endpoint, connections) wrk run
REPEATS = 3


SAMPLE = ROOT / "data" / "yangpu"


def _sample_copy(folder: Path) -> Any:
    """A private copy of the sample workspace (its own geomap.toml naming the sample's extract, a copy of
    its registry, its own cache) in ``folder``."""
    from geomap.workspace import init_workspace, open_workspace

    src = open_workspace(SAMPLE)
    ws = init_workspace(folder / "ws", name=src.name, publisher=src.publisher, area_label=src.area_label,
                        osm=src.osm_path, population=src.settings.population_path, lists_crs=src.settings.lists_crs)
    shutil.copy(src.registry_path, ws.registry_path)
    return ws


def query_points(n: int = 256) -> list[tuple[float, float]]:
    """Random e-bike network nodes of the sample extract, as GCJ-02 (what a phone sends)."""
    from geomap import coords
    from geomap.workspace import open_workspace

    g = open_workspace(SAMPLE).graph("ebike")
    rng = np.random.default_rng(42)
    idx = rng.choice(g.n_nodes, size=n, replace=False)
    lon, lat = coords.from_wgs84(g.node_lon[idx], g.node_lat[idx], dst="gcj02")
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


WRK_LUA = """
local paths = {%s}
local reqs = {}
local i = 0
init = function(args)
  for n, p in ipairs(paths) do reqs[n] = wrk.format("GET", p) end
end
request = function()
  i = i + 1
  return reqs[(i %% #reqs) + 1]
end
"""
"""wrk's script: the requests are written once (``init``), not per request: wrk shares the two cores with the
server, and formatting each request in Lua cost it CPU the server then lacked (~5 % of the 1M-node city's
requests a second, measured side by side)."""


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


ENDPOINTS = ("/healthz", "/nearest", "/nearest route=false")
"""What is loaded: the HTTP floor, the answer with routes (the default) and without them."""


def _wrk(url: str, path: str, clients: int, luas: dict[str, Path]) -> dict[str, float]:
    """One bounded wrk run (loopback): requests/s, p50 / p99 latency (ms), non-2xx and socket errors.
    ``path``: one of :data:`ENDPOINTS`; the /nearest ones cycle through their Lua script's URLs."""
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{RUN_S}s", "--latency", "--timeout", "10s"]
    if path in luas:
        cmd += ["-s", str(luas[path])]
    out = subprocess.run([*cmd, url + (path if path not in luas else "")], capture_output=True, text=True,
                         timeout=RUN_S + 30, check=True).stdout
    lat = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, flags=re.M))
    if "50" not in lat or "99" not in lat:
        raise RuntimeError(f"unexpected wrk output for {path} at {clients} connections:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(x) for x in sock.groups()) if sock else 0
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": _seconds(lat["50"]) * 1e3, "p99_ms": _seconds(lat["99"]) * 1e3, "errors": errors}


def _server_cpu_s(pid: int) -> tuple[float, float] | None:
    """User and system CPU seconds used so far by the server process ``pid`` and its live worker processes
    (Linux ``/proc``; None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    user = system = 0.0
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
                user += int(fields[11]) / tick
                system += int(fields[12]) / tick
    except OSError:
        return None
    return user, system


def _wrk_cpu(url: str, path: str, clients: int, luas: dict[str, Path], pid: int) -> dict[str, float]:
    """:func:`_wrk`, plus the server's CPU time per request (µs, user and system) during the run."""
    before = _server_cpu_s(pid)
    res = _wrk(url, path, clients, luas)
    after = _server_cpu_s(pid)
    if before is not None and after is not None and res["rps"] > 0:
        n = res["rps"] * RUN_S
        res["user_us"], res["sys_us"] = ((a - b) / n * 1e6 for a, b in zip(after, before, strict=True))
    return res


def _wait_idle(url: str, workers: int, timeout_s: float = 300.0) -> None:
    """Wait until every worker has built the published map (a background thread at start): the server is
    idle. Each look is a new connection, which the kernel hands to any worker."""
    deadline = time.monotonic() + timeout_s
    ready: dict[int, bool] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "/healthz", timeout=30) as r:
            h = json.loads(r.read())
        ready[h["worker_pid"]] = h["map_ready"]
        if len(ready) >= workers and all(ready.values()):
            return
        time.sleep(0.3)
    raise TimeoutError(f"the published map was not built in time by every worker: {ready}")


async def _mixed(url: str, points: list[tuple[float, float]]) -> dict[str, float]:
    """16 readers on /nearest + one admin writer: 40 new stations and 40 renames of one station."""
    n_new, n_rename = 40, 40
    stop = asyncio.Event()
    reads = {"n": 0, "errors": 0}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def reader(w: int) -> None:
            i = w
            while not stop.is_set():
                lon, lat = points[i % len(points)]
                i += 16
                r = await client.get("/nearest", params={"lon": lon, "lat": lat, "crs": "gcj02", "k": 3})
                reads["n"] += 1
                reads["errors"] += r.status_code != 200

        async def writer() -> dict[str, float]:
            t0 = time.perf_counter()
            errors = 0
            for i in range(n_new):
                lon, lat = points[(7 * i) % len(points)]
                r = await client.post("/stations", headers={"Authorization": f"Bearer {TOKEN}"}, json={
                    "id": f"BENCH{i:03d}", "name": f"压测站点{i}", "kinds": ["驿站"], "lon": lon, "lat": lat,
                    "crs": "gcj02", "opening_hours_raw": "24小时"})
                errors += r.status_code != 201
                r = await client.patch("/stations/YP001", headers={"Authorization": f"Bearer {TOKEN}"},
                                       json={"name": f"改名{i}"})
                errors += r.status_code != 200
            stop.set()
            return {"edits": n_new + n_rename, "edit_errors": errors, "edit_s": time.perf_counter() - t0}

        tasks = [asyncio.create_task(reader(w)) for w in range(16)]
        res = await writer()
        await asyncio.gather(*tasks)
        served = {f["id"] for f in (await client.get("/stations")).json()["features"]}
        last_name = (await client.get("/stations/YP001")).json()["properties"]["name"]
    res.update(reads=reads["n"], read_errors=reads["errors"],
               lost_served=sum(f"BENCH{i:03d}" not in served for i in range(n_new)),
               last_name_ok=last_name == f"改名{n_rename - 1}")
    return res


def _measure(workers: int, access_log: bool, points: list[tuple[float, float]]) -> dict[str, Any]:
    """wrk runs and the mixed run against one server with ``workers`` worker processes."""
    tmp = Path(tempfile.mkdtemp(prefix="geomap-bench-api-"))
    try:
        ws = _sample_copy(tmp)
        srv = start_server(workspace=ws.root, log_path=tmp / "server.log", admin_token=TOKEN, workers=workers,
                           timeout_s=300, access_log=access_log)
        try:
            _wait_idle(srv.url, workers)
            luas = {}
            for path, extra in (("/nearest", ""), ("/nearest route=false", "&route=false")):
                luas[path] = tmp / f"nearest{len(luas)}.lua"
                luas[path].write_text(WRK_LUA % ", ".join(
                    f'"/nearest?lon={lon:.6f}&lat={lat:.6f}&crs=gcj02&k=3{extra}"' for lon, lat in points),
                    encoding="utf-8")
            runs: dict[tuple[str, int], list[dict[str, float]]] = {}
            for path in luas:  # warm up (label indexes, snapping cells, connections)
                _wrk(srv.url, path, 4, luas)
            for _ in range(REPEATS):
                for clients in CLIENTS:
                    for path in ENDPOINTS:
                        runs.setdefault((path, clients), []).append(
                            _wrk_cpu(srv.url, path, clients, luas, srv.proc.pid))
            mixed = asyncio.run(_mixed(srv.url, points))
        finally:
            srv.stop()
        from geomap.stations.registry import Registry

        stored = Registry(ws.registry_path)
        mixed["lost_stored"] = sum(stored.get(f"BENCH{i:03d}") is None for i in range(40))
        mixed["name_stored_ok"] = stored.get("YP001").name == "改名39"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"runs": runs, "mixed": mixed}


def _best_us(fn: Any, n: int = 256, rounds: int = 30) -> float:
    """µs per call of ``fn(i)`` for i in range(n): the best of ``rounds`` rounds (a noisy machine: the
    minimum is the run least disturbed by other tenants)."""
    for i in range(n):
        fn(i)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def _cold_us(fn: Any, n: int = 256, rounds: int = 5, sweep_mib: int = 8) -> float:
    """µs per call of ``fn(i)`` when the CPU caches are cold: an ``sweep_mib`` MiB array is summed before
    each call (as a server's other work between two requests does), and only the call is timed; the best
    of ``rounds`` rounds."""
    sweep = np.ones(sweep_mib * 2**20 // 8)
    for i in range(n):
        fn(i)
    best = float("inf")
    for _ in range(rounds):
        total = 0.0
        for i in range(n):
            sweep.sum()
            t0 = time.perf_counter()
            fn(i)
            total += time.perf_counter() - t0
        best = min(best, total / n * 1e6)
    return best


async def _asgi_us(app: Any, path: str, queries: list[bytes], rounds: int = 30) -> float:
    """µs per request of ``app`` called directly as an ASGI app (no socket, no uvicorn), best of rounds."""
    async def call(qs: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": qs, "root_path": "",
                 "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        status = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"{path}?{qs.decode()}: status {status}")

    best = float("inf")
    for r in range(rounds + 1):
        t0 = time.perf_counter()
        for qs in queries:
            await call(qs)
        if r:  # the first round warms up
            best = min(best, (time.perf_counter() - t0) / len(queries) * 1e6)
    return best


def in_process(points: list[tuple[float, float]]) -> dict[str, float]:
    """Where a ``/nearest`` answer's time goes, measured in this process on the sample data (µs per
    request, the same 256 GCJ-02 points, e-bike, k=3, routes): the search alone, the library answer, the
    answer's JSON text, and the whole app without sockets for /healthz and /nearest."""
    from geomap.api.app import create_app
    from geomap.api.models import NearestQuery
    from geomap.api.read import nearest_body
    from geomap.api.state import LABEL_K, ServiceState, settle_heap
    from geomap.nearest import nearest_point
    from geomap.network.nearest import station_labels
    from geomap.network.query import answer
    from geomap.stations.index import StationFilter

    tmp = Path(tempfile.mkdtemp(prefix="geomap-bench-inproc-"))
    try:
        ws = _sample_copy(tmp)
        settings = ws.settings
        state = ServiceState.load(ws, modes=["ebike"])
        settle_heap()
        g, index_of = state.graphs["ebike"], state.snapshot.index
        sel = index_of.selection(StationFilter.make(), tz=settings.timezone)
        labels = station_labels(g, station_lon=sel.lon, station_lat=sel.lat, station_ids=sel.ids, k=LABEL_K,
                                limit_s=settings.label_limit_minutes * 60.0, station_key=sel.key).labels
        qs = [NearestQuery.model_validate({"lon": lon, "lat": lat, "crs": "gcj02", "k": 3}) for lon, lat in points]
        answers = [nearest_body(state, q) for q in qs]
        n = len(points)
        out = {
            "search": _best_us(lambda i: answer(labels, *points[i % n], k=3, crs="gcj02", route_crs="gcj02",
                                                max_snap_m=settings.max_snap_m)),
            "search_cold": _cold_us(lambda i: answer(labels, *points[i % n], k=3, crs="gcj02", route_crs="gcj02",
                                                     max_snap_m=settings.max_snap_m)),
            "nearest_point": _best_us(lambda i: nearest_point(
                index_of, qs[i % n].lon, qs[i % n].lat, k=3, crs="gcj02", mode="ebike", graph=g,
                index_k=LABEL_K, route_crs="gcj02", route_decimals=7)),
            "body": _best_us(lambda i: nearest_body(state, qs[i % n])),
            "body_cold": _cold_us(lambda i: nearest_body(state, qs[i % n])),
            "body_bytes": float(np.mean([len(a) for a in answers])),
        }
        app = create_app(state)
        raw = [f"lon={lon:.6f}&lat={lat:.6f}&crs=gcj02&k=3".encode() for lon, lat in points]

        async def asgi() -> tuple[float, float]:
            h = n_ = float("inf")
            for _ in range(3):  # alternate: the machine's speed drifts
                h = min(h, await _asgi_us(app, "/healthz", [b""] * n, rounds=10))
                n_ = min(n_, await _asgi_us(app, "/nearest", raw, rounds=10))
            return h, n_

        out["asgi_healthz"], out["asgi_nearest"] = asyncio.run(asgi())
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _in_process_lines(ip: dict[str, float], floor_us: float) -> list[str]:
    extra = ip["asgi_nearest"] - ip["asgi_healthz"]
    return [
        "### Where a `/nearest` request's time goes (in process, µs per request, best of 30 rounds)",
        "",
        "| step | µs |",
        "|---|---:|",
        f"| the search: GCJ-02 in and out, snapping, labels, 3 routes, one compiled call (`query.answer`) | "
        f"{ip['search']:.1f} |",
        f"| the same with cold CPU caches (an 8 MiB array summed before each call) | {ip['search_cold']:.1f} |",
        f"| the library answer (`nearest.nearest_point`: + GCJ-02 input, filter, station set) | "
        f"{ip['nearest_point']:.1f} |",
        f"| the GeoJSON answer as JSON text (`api.read.nearest_body`: + registry check, 3 features, "
        f"{ip['body_bytes']:,.0f} bytes) | {ip['body']:.1f} |",
        f"| the same with cold CPU caches | {ip['body_cold']:.1f} |",
        f"| the whole app without sockets: `/healthz` | {ip['asgi_healthz']:.1f} |",
        f"| the whole app without sockets: `/nearest` | {ip['asgi_nearest']:.1f} |",
        f"| HTTP `/healthz` through uvicorn, 1 worker, 16 clients (1 / throughput) | {floor_us:.0f} |",
        "",
        f"The app adds {extra:.0f} µs for `/nearest` over `/healthz` when called directly, about "
        f"{extra / max(ip['body'], 1e-9):.1f}× what its parts take in a tight loop: between "
        "requests, FastAPI and uvicorn push the search's code and tables out of the CPU caches. For a 70 % "
        f"ratio, everything `/nearest` adds would have to fit in {0.3 / 0.7 * floor_us:.0f} µs "
        f"(3/7 of the {floor_us:.0f} µs floor).",
        "",
    ]


def _table(workers: int, access_log: bool, m: dict[str, Any]) -> list[str]:
    runs, mixed = m["runs"], m["mixed"]

    def med(path: str, clients: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[(path, clients)])

    lines = [
        f"### {workers} worker{'s' if workers > 1 else ''} (`geomap serve --workers {workers}"
        f"{'' if access_log else ' --no-access-log'}`)",
        "",
        "| clients | /healthz req/s | /nearest req/s | ratio | no route req/s | ratio | /healthz p50 / p99 ms "
        "| /nearest p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in CLIENTS:
        h, n, nr = (med(p, c, "rps") for p in ENDPOINTS)
        errs = sum(r["errors"] for k, v in runs.items() if k[1] == c for r in v)
        lines.append(f"| {c} | {h:,.0f} | {n:,.0f} | {n / h:.0%} | {nr:,.0f} | {nr / h:.0%} | "
                     f"{med('/healthz', c, 'p50_ms'):.1f} / {med('/healthz', c, 'p99_ms'):.1f} | "
                     f"{med('/nearest', c, 'p50_ms'):.1f} / {med('/nearest', c, 'p99_ms'):.1f} | {errs} |")
    if all("user_us" in r for v in runs.values() for r in v):
        cpu = [f"{p} {med(p, 16, 'user_us'):.0f} + {med(p, 16, 'sys_us'):.0f}" for p in ENDPOINTS]
        lines += ["", "Server CPU per request at 16 clients (µs, user + system, from `/proc`): "
                  + "; ".join(cpu) + "."]
    lines += [
        "",
        f"Mixed run: 16 readers on `/nearest` ({mixed['reads']:,} reads, {mixed['read_errors']} errors) while one "
        f"admin client made {mixed['edits']} edits (40 POST + 40 PATCH, {mixed['edit_errors']} errors) in "
        f"{mixed['edit_s']:.1f} s: added stations missing from `/stations`: {mixed['lost_served']}, from the "
        f"registry file: {mixed['lost_stored']}; last rename served: {mixed['last_name_ok']}, stored: "
        f"{mixed['name_stored_ok']}.",
        "",
    ]
    return lines


def main() -> str:
    points = query_points()
    inproc = in_process(points)
    results = {c: _measure(*c, points) for c in CONFIGS}
    lines = [
        "## HTTP service: `/nearest` vs `/healthz` (bench_api.py)",
        "",
        f"Machine: {machine()}. uvicorn (httptools, asyncio loop) with 1 and with 2 worker processes, with uvicorn's "
        "access log (the default) and, for 2 workers, without it (a deployment behind a proxy that logs); load "
        f"from `wrk` (one thread) on the same machine, sharing its two cores. Each run lasts {RUN_S} s; medians over "
        f"{REPEATS} repeats, the endpoints alternating within each repeat (noisy machine: treat differences "
        "under ~10 % as noise). `/nearest`: e-bike, k=3, with routes (the default), 256 street-network points "
        "in GCJ-02; \"no route\": the same with `route=false`.",
        "",
    ]
    for c in CONFIGS:
        lines += _table(*c, results[c])
    one = results[CONFIGS[0]]["runs"][("/healthz", 16)]
    lines += _in_process_lines(inproc, 1e6 / statistics.median(r["rps"] for r in one))
    lines.append("Goal (issue 6): `/nearest` ≥ 70 % of `/healthz` throughput and p99 < 50 ms at 64 clients.")
    text = "\n".join(lines)
    write_section("api", text)
    return text


if __name__ == "__main__":
    print(main())
