"""The ``geomap`` command: a thin face over the library (import, stations, nearest).

Output is for people by default (Chinese labels) and JSON with ``--json``. Errors print one actionable
line to stderr and exit with status 2; no tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from geomap import coords, vocab
from geomap.cli._common import CliError, parse_when
from geomap.network.graph import MODES
from geomap.settings import get_settings
from geomap.stations.readers import list_profiles
from geomap.stations.registry import Registry
from geomap.stations.schema import Station, StationImportError


def _column_mapping(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CliError(f"--column {item!r}: write it as 'FILE_HEADER=field', e.g. --column 站点名称=name")
        src, dst = item.split("=", 1)
        out[src.strip()] = dst.strip()
    return out


def _labels(keys: list[str], voc: vocab.Vocabulary) -> str:
    return "、".join(voc.terms[k].label for k in keys if k in voc.terms)


def _station_json(st: Station, *, crs: str) -> dict[str, Any]:
    d = st.model_dump()
    lon, lat = coords.from_wgs84(st.lon, st.lat, dst=crs)
    d.update(lon=round(float(lon), 7), lat=round(float(lat), 7), crs=crs)
    return d


def _fmt_distance(m: float) -> str:
    return f"{m:.0f} m" if m < 1000 else f"{m / 1000:.2f} km"


def _print_station(st: Station, *, crs: str, prefix: str = "") -> None:
    lon, lat = coords.from_wgs84(st.lon, st.lat, dst=crs)
    print(f"{prefix}{st.name}  [{st.id}]")
    pad = " " * len(prefix)
    print(f"{pad}类型：{_labels(st.kinds, vocab.kinds())}")
    if st.address:
        print(f"{pad}地址：{st.address}" + (f"（{st.district or ''}{st.subdistrict or ''}）" if st.district else ""))
    hours = st.opening_hours_raw or "未知"
    print(f"{pad}开放时间：{hours}" + ("" if st.opening_hours or not st.opening_hours_raw else "（无法解析）"))
    if st.amenities:
        print(f"{pad}设施：{_labels(st.amenities, vocab.amenities())}")
    if st.meal_price_yuan is not None:
        print(f"{pad}套餐：{st.meal_price_yuan:g} 元")
    if st.phone:
        print(f"{pad}电话：{st.phone}")
    print(f"{pad}坐标（{crs}）：{float(lon):.6f}, {float(lat):.6f}")


# --- commands -------------------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace, reg: Registry) -> int:
    try:
        stations, report = reg.import_file(
            args.file, crs=args.crs, profile=args.profile, columns=_column_mapping(args.column),
            skip_invalid=args.skip_invalid, merge_duplicates=not args.keep_duplicates,
            sheet=args.sheet, layer=args.layer)
    except StationImportError as exc:
        if args.report:
            exc.report.write_csv(args.report)
        print(exc.report.format(), file=sys.stderr)
        print(f"导入失败，登记册未改动 / import failed, registry unchanged: {exc}", file=sys.stderr)
        return 2
    if args.report:
        report.write_csv(args.report)
    if args.json:
        print(json.dumps({"imported": len(stations), "registry": str(reg.path),
                          "report": report.to_frame().to_dict("records"), "summary": report.summary()},
                         ensure_ascii=False, indent=2))
    elif not args.quiet:
        print(report.format())
        print(f"已导入 {len(stations)} 个站点到 {reg.path}（共 {len(reg)} 个）")
    return 0


def cmd_stations(args: argparse.Namespace, reg: Registry) -> int:
    crs = coords.normalize_crs(args.crs)
    if args.action == "show":
        if not args.id:
            raise CliError("geomap stations show ID: give a station id (see `geomap stations list`)")
        st = reg.get(args.id)
        if st is None:
            raise CliError(f"no station with id {args.id!r} in {reg.path}")
        if args.json:
            print(json.dumps(_station_json(st, crs=crs), ensure_ascii=False, indent=2))
        else:
            _print_station(st, crs=crs)
        return 0
    df = reg.frame()
    if args.kind:
        key = vocab.kinds().require(args.kind)
        df = df[[key in ks for ks in df["kinds"]]]
    if args.amenity:
        key = vocab.amenities().require(args.amenity)
        df = df[[key in a for a in df["amenities"]]]
    if args.json:
        out = [_station_json(Station.from_row(r), crs=crs) for r in df.to_dict("records")]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for r in df.to_dict("records"):
        print(f"{r['id']:<22} {_labels(r['kinds'], vocab.kinds()):<16} {r['name']}")
    print(f"共 {len(df)} 个站点 ({reg.path})")
    return 0


def _mode_label(mode: str) -> str:
    from geomap.network.graph import load_profiles
    return load_profiles()[mode].label or mode


def _resolve_mode(args: argparse.Namespace) -> str | None:
    """--straight -> None; --mode X -> X; neither -> the default mode when a network is at hand."""
    from geomap.network.source import active_source

    if args.straight and args.mode:
        raise CliError("--straight and --mode exclude each other: choose one")
    if args.straight:
        return None
    if args.mode:
        return args.mode
    if args.osm or active_source() is not None:
        return get_settings().default_mode
    print("（未找到路网，按直线距离计算；`geomap network build` 可建立路网）", file=sys.stderr)
    return None


def _geojson_line(line, *, crs: str) -> dict[str, Any] | None:
    if line is None:
        return None
    import shapely
    xy = shapely.get_coordinates(line)
    lon, lat = coords.from_wgs84(xy[:, 0], xy[:, 1], dst=crs)
    return {"type": "LineString", "coordinates": [[round(float(a), 7), round(float(b), 7)]
                                                  for a, b in zip(lon, lat, strict=True)]}


def cmd_nearest(args: argparse.Namespace, reg: Registry) -> int:
    from geomap.nearest import nearest

    crs = coords.normalize_crs(args.crs)
    when = parse_when(args.open_at)
    mode = _resolve_mode(args)
    graph = None
    if mode is not None:
        from geomap.network.source import load_graph
        graph = load_graph(mode, osm_path=args.osm)
    res = nearest(reg.index, args.lon, args.lat, k=args.k, kind=args.kind, amenity=args.amenity,
                  open_at=when, crs=crs, mode=mode, graph=graph)
    ranks = [r for r in range(res.k) if res.station_id[0, r] is not None]
    sts = reg.stations([res.station_id[0, r] for r in ranks])
    if args.json:
        results = []
        for r, st in zip(ranks, sts, strict=True):
            if st is None:
                continue
            item: dict[str, Any] = {"rank": len(results) + 1, "distance_m": round(float(res.distance_m[0, r]), 1)}
            if res.travel_s is not None:
                item["travel_s"] = round(float(res.travel_s[0, r]), 1)
                item["route"] = _geojson_line(res.route[0, r], crs=crs) if res.route is not None else None
            item["station"] = _station_json(st, crs=crs)
            results.append(item)
        out = {"query": {"lon": args.lon, "lat": args.lat, "crs": crs}, "mode": mode or "straight",
               "filters": {"kind": args.kind, "amenity": args.amenity,
                           "open_at": when.isoformat() if when else None},
               "results": results}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    cond = [x for x in (args.kind and f"类型={args.kind}", args.amenity and f"设施={args.amenity}",
                        when and f"{when:%Y-%m-%d %H:%M} 开放") if x]
    print(f"查询点 ({args.lon}, {args.lat}) [{crs}]" + (f"，条件：{'，'.join(cond)}" if cond else ""))
    if not ranks:
        print("附近没有符合条件的站点。" if mode is None else "沿路网到达不了符合条件的站点。")
        return 0
    how = "直线距离" if mode is None else f"{_mode_label(mode)}，沿道路"
    print(f"最近 {len(ranks)} 个站点（{how}）：")
    for n, (r, st) in enumerate(zip(ranks, sts, strict=True)):
        assert st is not None
        d = _fmt_distance(float(res.distance_m[0, r]))
        head = d if res.travel_s is None else f"{float(res.travel_s[0, r]) / 60:.1f} 分钟（{d}）"
        _print_station(st, crs=crs, prefix=f"{n + 1}. {head}  ")
    return 0


def _bbox_polygon(text: str):
    import shapely

    try:
        w, s_, e, n = (float(x) for x in text.split(","))
    except ValueError:
        raise CliError(f"--bbox {text!r}: write west,south,east,north in WGS84 degrees") from None
    if not (w < e and s_ < n):
        raise CliError(f"--bbox {text!r}: west must be < east and south < north")
    return shapely.box(w, s_, e, n)


def _place_polygon(name: str):
    try:
        import osmnx as ox

        return ox.geocode_to_gdf(name).geometry.iloc[0]
    except Exception as exc:
        raise ConnectionError(f"cannot look up {name!r} (needs internet, Nominatim) / 无法查询地名，请改用 "
                              f"--osm 本地文件: {exc}") from exc


def cmd_network(args: argparse.Namespace, reg: Registry | None = None) -> int:
    from geomap.network.graph import MODES, build_network, network_from_polygon
    from geomap.network.source import remember_source

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise CliError(f"--modes {','.join(bad)}: use some of {','.join(MODES)}")
    given = [x for x in (args.osm, args.place, args.bbox) if x]
    if len(given) != 1:
        raise CliError("give exactly one source: --osm FILE, --place NAME or --bbox W,S,E,N")
    if args.osm:
        graphs = build_network(args.osm, modes=modes, progress=not args.quiet)
        remember_source(osm_path=args.osm, label=Path(args.osm).name)
    else:
        polygon = _place_polygon(args.place) if args.place else _bbox_polygon(args.bbox)
        graphs = network_from_polygon(polygon, modes=modes, progress=not args.quiet)
        remember_source(polygon_wkt=polygon.wkt, label=args.place or args.bbox)
    for mode, g in graphs.items():
        origin = "cache" if g.from_cache else "built"
        print(f"{mode:<6} {_mode_label(mode)}: {g.n_nodes:,} nodes, {g.n_streets:,} streets, "
              f"{g.n_edges:,} directed edges ({origin})")
    return 0


def cmd_isochrone(args: argparse.Namespace, reg: Registry) -> int:
    from geomap.network.isochrones import isochrones
    from geomap.network.source import load_graph

    crs = coords.normalize_crs(args.crs)
    out_crs = coords.normalize_crs(args.out_crs or "wgs84")
    try:
        minutes = [float(m) for m in args.minutes.split(",") if m.strip()]
    except ValueError:
        raise CliError(f"--minutes {args.minutes!r}: write minutes like 5,10,15") from None
    if not minutes or any(m <= 0 or m > 120 for m in minutes):
        raise CliError("--minutes: give one or more values between 0 and 120, e.g. 5,10,15")
    if args.station:
        st = reg.get(args.station)
        if st is None:
            raise CliError(f"no station with id {args.station!r} in {reg.path}")
        lon, lat, origin_id = st.lon, st.lat, st.id
    elif args.lon is not None and args.lat is not None:
        lon, lat = coords.to_wgs84(args.lon, args.lat, src=crs)
        origin_id = f"{args.lon},{args.lat}"
    else:
        raise CliError("give --station ID, or --lon X --lat Y")
    graph = load_graph(args.mode, osm_path=args.osm)
    fc = isochrones(graph, lon=float(lon), lat=float(lat), minutes=minutes, origin_ids=[origin_id], crs=out_crs,
                    as_geojson=True)
    fc["properties"] = {"mode": args.mode, "coord_system": out_crs}
    text = json.dumps(fc, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text)
    for f in fc["features"]:
        p = f["properties"]
        print(f"{p['minutes']:g} 分钟{_mode_label(args.mode)}服务圈：{p['area_km2']:.2f} km²", file=sys.stderr)
    if args.out:
        print(f"已写入 {args.out}（{out_crs}）", file=sys.stderr)
    return 0


def _minutes_list(text: str) -> list[float]:
    try:
        minutes = [float(m) for m in text.split(",") if m.strip()]
    except ValueError:
        raise CliError(f"--minutes {text!r}: write minutes like 5,10,15") from None
    if not minutes or any(m <= 0 or m > 120 for m in minutes):
        raise CliError("--minutes: give one or more values between 0 and 120, e.g. 5,10,15")
    return minutes


def cmd_map(args: argparse.Namespace, reg: Registry) -> int:
    """`geomap map`: the self-contained service map (geomap.publish.maps.write_map)."""
    from geomap.publish.maps import DEFAULT_TITLE, write_map

    s = write_map(args.out, reg, tiles=args.tiles, layers=args.layers, mode=args.mode,
                  minutes=_minutes_list(args.minutes), gaps=args.gaps, osm_path=args.osm,
                  title=args.title or DEFAULT_TITLE)
    print(f"已写入 {s.path}：{s.stations} 个站点，图层 {', '.join(s.layers)}，底图 {s.tiles}（{s.coord_system}），"
          f"{s.size_bytes / 1e6:.2f} MB")
    return 0


def cmd_poster(args: argparse.Namespace, reg: Registry) -> int:
    """`geomap poster`: the print poster, PNG or PDF (geomap.publish.poster.make_poster)."""
    from geomap.publish.poster import DEFAULT_TITLE, make_poster

    s = make_poster(reg, args.out, title=args.title or DEFAULT_TITLE, mode=args.mode,
                    minutes=_minutes_list(args.minutes), circles=not args.no_circles, osm_path=args.osm,
                    paper=args.paper, landscape=args.landscape, dpi=args.dpi)
    if s.missing_glyphs:
        print(f"注意：字体缺少这些字符的字形：{''.join(sorted(s.missing_glyphs))}", file=sys.stderr)
    print(f"已写入 {s.path}：{s.stations} 个站点，{s.paper}" + (f"，{s.dpi} dpi" if s.dpi else "（矢量 PDF）"))
    return 0


def cmd_profiles(args: argparse.Namespace, reg: Registry | None = None) -> int:
    from geomap.stations.readers import load_profile

    for name in list_profiles():
        print(f"{name}: {load_profile(name).description}")
    return 0


def cmd_serve(args: argparse.Namespace, reg: Registry | None = None) -> int:
    from geomap.api.serve import serve

    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: use 1–65535")
    if args.workers < 1:
        raise CliError(f"--workers {args.workers}: use 1 or more")
    serve(config=args.config, host=args.host, port=args.port, registry=args.registry, workers=args.workers,
          access_log=not args.no_access_log)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="geomap", description="新就业形态劳动者服务地图 / service map and "
                                "nearest-station locator for outdoor workers")
    p.add_argument("--registry", type=Path, default=None,
                   help="registry GeoPackage (default: settings.registry_path, data/registry.gpkg)")
    sub = p.add_subparsers(dest="command", required=True)

    imp = sub.add_parser("import", help="import a station list (CSV, XLSX, GeoJSON, GeoPackage, profile JSON)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--crs", default=None, help="coordinate system of the file: wgs84, gcj02 or bd09")
    imp.add_argument("--profile", default=None, help=f"import profile ({', '.join(list_profiles())})")
    imp.add_argument("--column", action="append", metavar="HEADER=FIELD",
                     help="map a file column to a field (name, kind, lon, lat, address, opening_hours, …)")
    imp.add_argument("--skip-invalid", action="store_true", help="import the valid rows, list the others")
    imp.add_argument("--keep-duplicates", action="store_true", help="flag duplicate places but keep both")
    imp.add_argument("--report", type=Path, default=None, help="write the validation report as CSV")
    imp.add_argument("--sheet", default=None, help="XLSX sheet name")
    imp.add_argument("--layer", default=None, help="GeoPackage layer")
    imp.add_argument("--json", action="store_true")
    imp.add_argument("--quiet", action="store_true")
    imp.set_defaults(func=cmd_import)

    st = sub.add_parser("stations", help="list or show stations in the registry")
    st.add_argument("action", choices=["list", "show"])
    st.add_argument("id", nargs="?")
    st.add_argument("--kind", default=None)
    st.add_argument("--amenity", default=None)
    st.add_argument("--crs", default="wgs84", help="coordinate system of printed coordinates")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stations)

    nr = sub.add_parser("nearest", help="nearest stations to a point")
    nr.add_argument("--lon", type=float, required=True)
    nr.add_argument("--lat", type=float, required=True)
    nr.add_argument("--crs", default="wgs84", help="coordinate system of --lon/--lat and of the output")
    nr.add_argument("--k", type=int, default=3)
    nr.add_argument("--kind", default=None, help="station kind (key or Chinese name; comma for several)")
    nr.add_argument("--amenity", default=None, help="required amenities (comma-separated)")
    nr.add_argument("--open-at", default=None, help="'now' or '2026-11-23 12:30' (Asia/Shanghai)")
    nr.add_argument("--mode", default=None, choices=MODES,
                    help="travel mode along the street network (default: settings.default_mode, ebike)")
    nr.add_argument("--straight", action="store_true", help="straight-line (great-circle) distance instead")
    nr.add_argument("--osm", default=None, help="OSM file to route on (default: the active network)")
    nr.add_argument("--json", action="store_true")
    nr.set_defaults(func=cmd_nearest)

    nw = sub.add_parser("network", help="build the street networks (cached) and make them the active ones")
    nw.add_argument("action", choices=["build"])
    nw.add_argument("--osm", default=None, help="an OSM .osm.pbf or .osm file")
    nw.add_argument("--place", default=None, help="a place name to download (needs internet)")
    nw.add_argument("--bbox", default=None, help="west,south,east,north in WGS84 degrees (needs internet)")
    nw.add_argument("--modes", default="walk,ebike,drive,truck")
    nw.add_argument("--quiet", action="store_true")
    nw.set_defaults(func=cmd_network)

    iso = sub.add_parser("isochrone", help="service circles (服务圈) around a station or a point, as GeoJSON")
    iso.add_argument("--station", default=None, help="station id")
    iso.add_argument("--lon", type=float, default=None)
    iso.add_argument("--lat", type=float, default=None)
    iso.add_argument("--crs", default="wgs84", help="coordinate system of --lon/--lat")
    iso.add_argument("--minutes", default="5,10,15")
    iso.add_argument("--mode", default="walk", choices=MODES)
    iso.add_argument("--osm", default=None, help="OSM file to route on (default: the active network)")
    iso.add_argument("--out", default=None, help="GeoJSON file to write (default: print)")
    iso.add_argument("--out-crs", default=None, help="coordinate system of the output polygons (wgs84)")
    iso.set_defaults(func=cmd_isochrone)

    mp = sub.add_parser("map", help="the self-contained service map (综合服务地图) as one HTML file")
    mp.add_argument("--out", required=True, help="HTML file to write, e.g. service_map.html")
    mp.add_argument("--tiles", default=None, choices=["none", "osm", "amap", "tianditu"],
                    help="base map (default settings.map_tiles = none: streets from the OSM extract, no network)")
    mp.add_argument("--layers", default=None, help="comma list of stations,circles,gaps (default stations,circles "
                    "and gaps when --gaps is given)")
    mp.add_argument("--mode", default=None, choices=MODES, help="travel mode of the service circles")
    mp.add_argument("--minutes", default="5,10,15", help="service-circle bands in minutes")
    mp.add_argument("--gaps", default=None, help="gap grid GeoJSON (output of `geomap gaps --out`)")
    mp.add_argument("--osm", default=None, help="OSM extract for streets and circles (default: the active one)")
    mp.add_argument("--title", default=None, help="page title")
    mp.set_defaults(func=cmd_map)

    po = sub.add_parser("poster", help="print poster of the service map (PNG or PDF)")
    po.add_argument("--out", required=True, help="map.png or map.pdf")
    po.add_argument("--title", default=None, help="poster title")
    po.add_argument("--mode", default=None, choices=MODES, help="travel mode of the service circles")
    po.add_argument("--minutes", default="5,10,15", help="service-circle bands in minutes")
    po.add_argument("--no-circles", action="store_true", help="leave the service circles out")
    po.add_argument("--osm", default=None, help="OSM extract for streets and circles (default: the active one)")
    po.add_argument("--paper", default="A3", help="A0-A4 (default A3)")
    po.add_argument("--landscape", action="store_true", help="landscape instead of portrait")
    po.add_argument("--dpi", type=int, default=None, help="PNG resolution (default settings.poster_dpi = 300)")
    po.set_defaults(func=cmd_poster)

    pr = sub.add_parser("profiles", help="list the shipped import profiles")
    pr.set_defaults(func=cmd_profiles)

    sv = sub.add_parser("serve", help="run the HTTP service and the rider page (uvicorn)")
    sv.add_argument("--config", type=Path, default=None, help="TOML settings file (keys as in geomap.settings)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=1,
                    help="worker processes (each holds its own copy of the graphs; all follow the registry)")
    sv.add_argument("--no-access-log", action="store_true",
                    help="no log line per request (behind a proxy that logs requests itself)")
    sv.set_defaults(func=cmd_serve)

    from geomap.cli.plan import add_parsers as add_planner_parsers

    add_planner_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("profiles", "network", "serve"):
            return args.func(args)
        reg = Registry(args.registry or get_settings().registry_path)
        if getattr(args, "k", 1) < 1:
            raise CliError("--k must be at least 1")
        return int(args.func(args, reg))
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except (CliError, ValueError, KeyError, FileNotFoundError, ConnectionError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"geomap: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

