"""A 50 MB station list uploaded to `POST /stations/import` (issue 18, "Bounded reports"): this branch against
the code of main before the change (``PEER_COMMIT``), side by side in one run
(`python benchmarks/run.py bench_upload`).

The peer is the ``geomap/`` folder of ``PEER_COMMIT`` (``git archive``) run with the same Python and
packages: two ``geomap serve`` processes (one worker each, admin token set), each on its own copy of the
sample workspace, started and measured one after the other on the same machine.

* **bad list**: a 49 MB CSV (the size a person sends; the limit is 50 MB) of ~516,000 station rows whose
  every longitude is unreadable (``东经121度半``): POSTed ``REPEATS`` times with ``crs=gcj02``. Measured:
  wall time as the client sees it (upload on loopback included), the worker's peak resident memory during
  the request above what it held just before (``VmHWM`` reset through ``/proc/PID/clear_refs``, minus
  ``VmRSS`` at that moment), the size of the answer, the problems it lists and whether it names the
  server's temporary folder.
* **good list** (for comparison; the library, not the service, as an import of 540,000 stations would be
  followed by the service rebuilding its per-mode labels for all of them, which is another benchmark):
  a 49 MB CSV of ~543,000 valid rows spread over south-east China read and checked by
  ``load_stations(..., crs="gcj02")`` in a child process of each code: wall time and peak resident memory
  of the child above an idle interpreter that imported the same modules.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, write_section  # noqa: E402
from geomap.api._process import start_server  # noqa: E402

PEER_COMMIT = "6e80c8a"
"""main before issue 18's streamed upload and early stop (capped reports and file-name-only sources done)."""
WORK = ROOT / "benchmarks" / "_work" / "upload"
SAMPLE = ROOT / "data" / "yangpu"
TOKEN = "bench-upload"
FILE_BYTES = 49 * 1024 * 1024
REPEATS = 3
TEMP_MARK = "geomap-import-"
"""The prefix of the service's temporary folder: an answer naming it leaks a server path."""


def write_list(path: Path, *, bad: bool, size_bytes: int = FILE_BYTES) -> int:
    """A CSV station list of about ``size_bytes`` (UTF-8): bad rows (unreadable longitude) or valid ones
    spread over lon 110–122, lat 25–35 (GCJ-02). Returns the number of rows."""
    rng = np.random.default_rng(3)
    head = "编号,名称,类型,地址,经度,纬度,开放时间\n"
    size, n = len(head.encode()), 0
    with path.open("w", encoding="utf-8") as f:
        f.write(head)
        while True:
            lon = "东经121度半" if bad else f"{110 + rng.random() * 12:.6f}"
            lat = f"{25 + rng.random() * 10:.6f}"
            line = f"{'B' if bad else 'G'}{n:07d},五角场驿站{n},工会驿站,淞沪路{n}号,{lon},{lat},9:00-17:00\n"
            b = len(line.encode())
            if size + b > size_bytes:
                return n
            f.write(line)
            size, n = size + b, n + 1


def _peer_tree() -> Path:
    """The ``geomap/`` package of :data:`PEER_COMMIT`, extracted under the work folder."""
    dest = WORK / f"peer-{PEER_COMMIT}"
    if not (dest / "geomap" / "__init__.py").exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        tar = WORK / "peer.tar"
        subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(tar), PEER_COMMIT, "geomap"], check=True)
        with tarfile.open(tar) as t:
            t.extractall(dest, filter="data")
        tar.unlink()
    return dest


def _sample_copy(folder: Path) -> Path:
    """A private copy of the sample workspace in ``folder`` (own geomap.toml, registry copy, own cache)."""
    from geomap.workspace import init_workspace, open_workspace

    src = open_workspace(SAMPLE)
    shutil.rmtree(folder, ignore_errors=True)
    ws = init_workspace(folder, name=src.name, publisher=src.publisher, area_label=src.area_label,
                        osm=src.osm_path, population=src.settings.population_path, lists_crs=src.settings.lists_crs)
    shutil.copy(src.registry_path, ws.registry_path)
    return ws.root


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _wait_idle(url: str, timeout_s: float = 300.0) -> int:
    """Wait until the worker has built the published map (its start-up work); its pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        h = httpx.get(url + "/healthz", timeout=30).json()
        if h["map_ready"]:
            return int(h["worker_pid"])
        time.sleep(0.5)
    raise TimeoutError("the published map was not built in time")


def bench_service(label: str, code: Path | None, bad_csv: Path) -> dict[str, Any]:
    """Start ``geomap serve`` of ``code`` (None: this branch) and POST the bad list :data:`REPEATS` times."""
    folder = _sample_copy(WORK / f"ws-{label}")
    env = {"PYTHONPATH": str(code)} if code is not None else {}
    srv = start_server(workspace=folder, log_path=WORK / f"serve-{label}.log", admin_token=TOKEN, env=env,
                       access_log=False, cwd=code, timeout_s=300)
    runs: list[dict[str, Any]] = []
    try:
        pid = _wait_idle(srv.url)
        time.sleep(2)
        for _ in range(REPEATS):
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            rss0 = _status_mb(pid, "VmRSS")
            t0 = time.perf_counter()
            with bad_csv.open("rb") as f:
                r = httpx.post(srv.url + "/stations/import", files={"file": (bad_csv.name, f, "text/csv")},
                               data={"crs": "gcj02"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
            wall = time.perf_counter() - t0
            body = r.json()
            runs.append({"wall_s": wall, "peak_mb": _status_mb(pid, "VmHWM") - rss0, "rss_before_mb": rss0,
                         "status": r.status_code, "answer_bytes": len(r.content),
                         "problems": len(body.get("problems", [])), "errors": body.get("errors"),
                         "records": body.get("records"), "omitted": sum((body.get("omitted") or {}).values()),
                         "names_temp": TEMP_MARK in r.text or "/tmp" in r.text,
                         "message": str(body.get("message", ""))})
        rss_after = _status_mb(pid, "VmRSS")
    finally:
        srv.stop()
    return {"runs": runs, "wall_s": statistics.median(x["wall_s"] for x in runs),
            "peak_mb": max(x["peak_mb"] for x in runs), "rss_after_mb": rss_after, **runs[0]}


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from geomap.stations.validate import load_stations
def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = hwm()
t0 = time.perf_counter()
df, report = load_stations(sys.argv[1], crs="gcj02")
print(json.dumps({"wall_s": time.perf_counter() - t0, "peak_mb": hwm() - base, "stations": len(df),
                  "records": report.records, "errors": report.error_count}))
"""


def bench_library(code: Path | None, good_csv: Path) -> dict[str, Any]:
    """Read and check the good list in a child process running ``code`` (None: this branch)."""
    env = {**os.environ, "PYTHONPATH": str(code) if code is not None else str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(good_csv)], env=env, cwd=code or ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ratio(peer: float, ours: float) -> str:
    return f"{peer / ours:,.0f}×" if ours > 0 else "—"


def main() -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    bad_csv, good_csv = WORK / "bad_49mb.csv", WORK / "good_49mb.csv"
    n_bad = write_list(bad_csv, bad=True)
    n_good = write_list(good_csv, bad=False)
    peer = _peer_tree()
    svc = {"geomap": bench_service("geomap", None, bad_csv), "peer": bench_service("peer", peer, bad_csv)}
    lib = {"geomap": bench_library(None, good_csv), "peer": bench_library(peer, good_csv)}
    g, p = svc["geomap"], svc["peer"]
    date = time.strftime("%Y-%m-%d")
    md = [f"## A 50 MB upload (issue 18; {date}, {machine()})", "",
          f"`benchmarks/bench_upload.py`: `POST /stations/import` of a {bad_csv.stat().st_size / 2**20:.0f} MB CSV "
          f"of {n_bad:,} bad rows (every longitude unreadable), `crs=gcj02`, to `geomap serve` (one worker, sample "
          f"workspace) of this branch and of main at `{PEER_COMMIT}` (before the change: the upload read whole, "
          "every row checked; reports already capped at 50 per code) run side by side; wall = the client's "
          f"(loopback upload included), median of {REPEATS}; peak = the worker's `VmHWM` during the request "
          "above its `VmRSS` just before (reset through `/proc/PID/clear_refs`), the largest of the runs.", "",
          "| code | status | wall | worker peak above idle | answer | problems listed (+ counted, not listed) | "
          "records checked | names the temp folder |",
          "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in (("geomap (this branch)", g), (f"main `{PEER_COMMIT}`", p)):
        md.append(f"| {name} | {r['status']} | {r['wall_s']:.2f} s | {r['peak_mb']:,.0f} MB | "
                  f"{r['answer_bytes'] / 1024:,.1f} kB | {r['problems']} (+ {r['omitted']:,}) | {r['records']:,} | "
                  f"{'yes' if r['names_temp'] else 'no'} |")
    met = g["wall_s"] < 10 and g["peak_mb"] < 100 and g["answer_bytes"] < 100_000 and not g["names_temp"]
    md += ["", f"Peer / geomap: time {_ratio(p['wall_s'], g['wall_s'])}, peak memory "
           f"{_ratio(p['peak_mb'], g['peak_mb'])}. Goal (issue 18): a 50 MB bad file costs seconds and tens of MB, "
           f"its report capped, no server path in it: {'met' if met else 'NOT met'}.",
           "", f"geomap's answer: “{g['message']}”", "",
           f"For comparison, a {good_csv.stat().st_size / 2**20:.0f} MB list of {n_good:,} valid rows read and checked "
           "by the library (`load_stations`, `crs=gcj02`, no registry write) in a child process of each code "
           "(peak = `VmHWM` above the interpreter with the modules imported): every row is checked, so this "
           "costs what the rows cost.", "",
           "| code | stations | wall | peak above idle |", "|---|---:|---:|---:|"]
    for name, r in (("geomap (this branch)", lib["geomap"]), (f"main `{PEER_COMMIT}`", lib["peer"])):
        md.append(f"| {name} | {r['stations']:,} | {r['wall_s']:.1f} s | {r['peak_mb']:,.0f} MB |")
    text = "\n".join(md)
    write_section("upload", text)
    (WORK / "last.json").write_text(json.dumps({"service": svc, "library": lib}, ensure_ascii=False, indent=1))
    return text


if __name__ == "__main__":
    print(main())
