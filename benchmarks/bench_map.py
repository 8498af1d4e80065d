"""The published map at national scale: HTML size and time until the stations are drawn in headless Chromium.

Stations: the synthetic national set of ``bench_straight`` (clustered on 20 cities) with realistic fields
(Chinese names and addresses, hours, phone, 4 amenities, kind), 10,000 and 186,000 of them. Pages compared,
all without base tiles and with a popup holding at least the station name:

- geomap ``write_map(..., tiles="none", layers="stations", streets=False)``: compact columns, Supercluster,
  only the visible clusters / stations drawn;
- folium with one ``Marker`` per station (popup = name);
- folium ``MarkerCluster`` (Leaflet.markercluster) with one ``Marker`` per station (popup = name);
- folium ``FastMarkerCluster`` (coordinates as one array, markers made in the browser; no popups).

folium pages load Leaflet etc. from CDNs: the benchmark serves those URLs from the files in
``geomap/publish/assets`` (and ``publish/assets/peers`` for Leaflet.markercluster) through Playwright routing, so
no network is used. "drawn" = geomap's first drawing (``performance.now()`` at the frame after the markers
were added); for folium pages, the frame after the ``load`` event (their scripts add the markers
synchronously). Generation (Python) and loading are each bounded: a peer that takes longer is reported as
"did not finish in N s". The machine is shared and noisy (2 cores): times are medians of the runs shown.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import machine, write_section
from benchmarks.bench_straight import synthetic_points
from geomap import vocab
from geomap.publish.maps import ASSETS, write_map

SIZES = (10_000, 186_000)
GEN_TIMEOUT_S = 60
LOAD_TIMEOUT_S = 120
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def national_stations(n: int, seed: int = 1) -> pd.DataFrame:
    """A synthetic national station table in the registry's shape (WGS84), deterministic per seed."""
    lon, lat = synthetic_points(n, seed)
    rng = np.random.default_rng(seed)
    kinds = vocab.kinds().keys()
    ams = np.array(vocab.amenities().keys())
    hours = ["24/7", "Mo-Fr 08:30-17:00", "09:00-20:30", "08:30-11:00,13:00-17:00", "10:30-13:30,16:30-19:30", None]
    raw = ["24小时", "周一至周五8:30-17:00", "9:00-20:30", "8:30-11:00, 13:00-17:00", "10:30-13:30 16:30-19:30", None]
    roads = ["人民路", "中山路", "解放路", "建设路", "和平路", "长江路", "黄河路", "文化路", "新华路", "胜利路"]
    words = ["户外劳动者服务站", "爱心驿站", "司机之家", "爱心食堂", "暖心服务站", "工会驿站"]
    k = rng.integers(0, len(kinds), n)
    h = rng.integers(0, len(hours), n)
    return pd.DataFrame({
        "id": [f"S{i:06d}" for i in range(n)],
        "name": [f"{roads[i % 10]}{words[k[i] % 6]}{i % 997}号" for i in range(n)],
        "kinds": [[kinds[j]] for j in k], "lon": lon, "lat": lat,
        "address": [f"{roads[(i * 7) % 10]}{(i * 13) % 2000 + 1}号" for i in range(n)],
        "district": [f"第{(i // 50) % 2800}区" for i in range(n)],
        "subdistrict": [f"第{(i // 10) % 40000}街道" for i in range(n)],
        "operator": [f"第{(i // 50) % 2800}区总工会" for i in range(n)],
        "phone": [f"0{10 + i % 890}-6{(i * 7919) % 10_000_000:07d}" for i in range(n)],
        "opening_hours": [hours[j] for j in h], "opening_hours_raw": [raw[j] for j in h],
        "amenities": [list(rng.choice(ams, size=4, replace=False)) for _ in range(n)],
        "meal_price_yuan": np.where(k == 2, 12.0, np.nan),
    })


# --- page generation (each in a child process, so that a slow peer can be stopped) -------------------------

def _gen_geomap(n: int, out: str) -> None:
    write_map(out, national_stations(n), tiles="none", layers="stations", streets=False)


def _gen_folium(n: int, out: str, variant: str) -> None:
    import folium
    from folium.plugins import FastMarkerCluster, MarkerCluster

    df = national_stations(n)
    m = folium.Map(location=[35, 105], zoom_start=4, tiles=None, prefer_canvas=True)
    m.options["maxZoom"] = 19  # without tiles folium sets none; Leaflet.markercluster needs it
    if variant == "fast":
        # plain Leaflet markers (folium's default callback needs Leaflet.awesome-markers from a CDN)
        FastMarkerCluster(df[["lat", "lon"]].to_numpy().tolist(),
                          callback="function (row) { return L.marker(new L.LatLng(row[0], row[1])); }").add_to(m)
    else:
        parent = MarkerCluster().add_to(m) if variant == "cluster" else m
        for lat, lon, name in zip(df.lat, df.lon, df.name, strict=True):
            folium.Marker([lat, lon], popup=name).add_to(parent)
    m.save(out)


def _generate(target, args: tuple, timeout_s: float) -> float | None:
    """Seconds the generation took, or None when it did not finish within ``timeout_s``."""
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    p = ctx.Process(target=target, args=args)
    p.start()
    p.join(timeout_s)
    if p.is_alive():
        p.terminate()
        p.join()
        return None
    if p.exitcode != 0:
        raise RuntimeError(f"page generation failed: {target.__name__}{args}")
    return time.perf_counter() - t0


# --- loading in Chromium -------------------------------------------------------------------------------------

_LOCAL = {
    "leaflet.js": ASSETS / "leaflet.js", "leaflet.css": ASSETS / "leaflet.css",
    "leaflet.markercluster.js": ASSETS / "peers" / "leaflet.markercluster.js",
    "MarkerCluster.css": ASSETS / "peers" / "MarkerCluster.css",
    "MarkerCluster.Default.css": ASSETS / "peers" / "MarkerCluster.Default.css",
    "jquery-3.7.1.min.js": ASSETS / "peers" / "jquery.min.js",
}
_TYPES = {".js": "application/javascript", ".css": "text/css", ".png": "image/png"}


def _serve_offline(route) -> None:
    """CDN URLs of folium pages from the local copies (empty body for jQuery, Bootstrap, fonts …)."""
    url = route.request.url
    name = url.split("?")[0].rsplit("/", 1)[-1]
    path = _LOCAL.get(name) or (ASSETS / "images" / name if name.endswith(".png") else None)
    if path is not None and path.exists():
        route.fulfill(status=200, body=path.read_bytes(), content_type=_TYPES.get(path.suffix, "text/plain"))
    else:
        route.fulfill(status=200, body=b"", content_type=_TYPES.get(Path(name).suffix, "text/plain"))


def _load(browser, path: Path, *, geomap_page: bool) -> float | None:
    """Milliseconds from navigation start until the stations are drawn, or None after LOAD_TIMEOUT_S."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    page.route("http*://**/*", _serve_offline)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        if geomap_page:
            page.goto(path.as_uri(), wait_until="commit", timeout=LOAD_TIMEOUT_S * 1000)
            page.wait_for_selector("html[data-geomap-drawn]", timeout=LOAD_TIMEOUT_S * 1000)
            ms = float(page.evaluate("window.geomapStats.drawnMs"))
        else:
            page.goto(path.as_uri(), wait_until="load", timeout=LOAD_TIMEOUT_S * 1000)
            ms = float(page.evaluate(
                "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"))
    except Exception as exc:  # playwright TimeoutError or a crashed tab: report as not finished
        if "Timeout" not in type(exc).__name__ and "imeout" not in str(exc):
            raise
        ms = None
    finally:
        ctx.close()
    if errors:
        raise RuntimeError(f"{path.name}: page errors {errors[:3]}")
    return ms


def main() -> str:
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n in SIZES:
            peers = [("geomap (Supercluster, compact columns)", "geomap", 3),
                     ("folium FastMarkerCluster (no popups)", "fast", 3),
                     ("folium MarkerCluster", "cluster", 3 if n <= 10_000 else 1),
                     ("folium Marker per station", "marker", 1)]  # ~100 s per load at 10,000
            for label, variant, runs in peers:
                out = Path(tmp) / f"{variant}_{n}.html"
                if variant == "geomap":
                    gen_s = _generate(_gen_geomap, (n, str(out)), GEN_TIMEOUT_S)
                else:
                    gen_s = _generate(_gen_folium, (n, str(out), variant), GEN_TIMEOUT_S)
                row = {"n": n, "page": label, "gen_s": gen_s, "mb": None, "drawn_ms": None, "runs": 0}
                if gen_s is not None:
                    row["mb"] = out.stat().st_size / 1e6
                    times = []
                    for _ in range(runs):
                        ms = _load(browser, out, geomap_page=variant == "geomap")
                        if ms is None:
                            break
                        times.append(ms)
                    row["runs"] = len(times)
                    row["drawn_ms"] = statistics.median(times) if times else None
                    out.unlink()
                rows.append(row)
                print(row, flush=True)
        browser.close()
    return _report(rows)


def _report(rows: list[dict]) -> str:
    lines = [
        f"## Published map at national scale ({date.today()}, {machine()}, Debian Chromium headless)",
        "",
        "Synthetic national station set (`benchmarks/bench_map.py`), no base tiles. drawn = ms from navigation "
        f"start until the stations are on screen (median of the runs shown; noisy shared machine). Generation and "
        f"loading bounded at {GEN_TIMEOUT_S} s / {LOAD_TIMEOUT_S} s.",
        "",
        "| stations | page | HTML MB | generate s | drawn s | runs | drawn vs geomap |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in sorted({r["n"] for r in rows}):
        base = next(r["drawn_ms"] for r in rows if r["n"] == n and r["page"].startswith("geomap"))
        for r in (r for r in rows if r["n"] == n):
            if r["gen_s"] is None:
                small = next((s for s in rows if s["page"] == r["page"] and s["n"] < n and s["gen_s"]), None)
                guess = ""
                if small:
                    guess = f" (≈{small['gen_s'] * n / small['n'] / 60:.0f} min at the {small['n']:,} rate)"
                lines.append(f"| {n:,} | {r['page']} | – | did not finish in {GEN_TIMEOUT_S} s{guess} | – | 0 | – |")
                continue
            drawn = (f"did not finish in {LOAD_TIMEOUT_S} s" if r["drawn_ms"] is None
                     else f"{r['drawn_ms'] / 1000:.2f}")
            ratio = "–" if r["drawn_ms"] is None or base is None else f"{r['drawn_ms'] / base:.1f}×"
            lines.append(f"| {n:,} | {r['page']} | {r['mb']:.1f} | {r['gen_s']:.1f} | {drawn} | {r['runs']} "
                         f"| {ratio} |")
    g = next((r for r in rows if r["n"] == max(SIZES) and r["page"].startswith("geomap")), None)
    if g and g["drawn_ms"] is not None:
        ok = g["mb"] < 15 and g["drawn_ms"] < 5000
        lines += ["", f"Goal (186,000 stations: page < 15 MB, drawn within 5 s): geomap {g['mb']:.1f} MB, "
                  f"{g['drawn_ms'] / 1000:.2f} s — {'met' if ok else 'NOT met'}."]
    text = "\n".join(lines)
    write_section("map", text)
    return text


if __name__ == "__main__":
    print(main())
