"""The ``geomap`` command: a thin face over the library, working on one workspace (one place).

Every command but ``init`` and ``profiles`` works in the workspace found by ``--workspace DIR``, then
``GEOMAP_WORKSPACE``, then the current folder and its parents (:func:`geomap.workspace.locate_workspace`).
Output is for people by default (Chinese labels) and JSON with ``--json``. Errors print one actionable
line to stderr and exit with status 2; no tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from geomap import coords, vocab
from geomap.cli._common import CliError, parse_when
from geomap.network.graph import MODES
from geomap.settings import get_settings, use_settings
from geomap.stations.readers import list_profiles
from geomap.stations.schema import Station, StationImportError
from geomap.workspace import Workspace, init_workspace, open_workspace


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

def cmd_import(args: argparse.Namespace, ws: Workspace) -> int:
    reg = ws.registry
    if not Path(args.file).exists():
        raise CliError(f"找不到文件：{args.file}")
    try:
        stations, report = ws.import_file(
            args.file, crs=args.crs, profile=args.profile, columns=_column_mapping(args.column),
            skip_invalid=args.skip_invalid, merge_duplicates=not args.keep_duplicates,
            sheet=args.sheet, layer=args.layer, kind=args.kind, update=args.update, geocode=args.geocode)
    except StationImportError as exc:
        if args.report:
            exc.report.write_csv(args.report)
        print(exc.report.format(), file=sys.stderr)
        print(f"导入失败，站点库未改动：{exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the file cannot be read as a list (columns, sheet, --kind …)
        raise CliError(f"导入失败，站点库未改动：{exc}") from None
    if args.report:
        report.write_csv(args.report)
    if args.json:
        print(json.dumps({"imported": len(stations), "added": report.added, "updated": report.updated,
                          "unchanged": report.unchanged, "crs": report.crs, "crs_reason": report.crs_reason,
                          "notes": report.notes, "registry": str(reg.path), "omitted": report.omitted,
                          "report": report.to_frame().to_dict("records"), "summary": report.summary()},
                         ensure_ascii=False, indent=2))
    elif not args.quiet:
        print(report.format())
        print(f"{ws.name}的站点库：新增 {report.added:,} 个、更新 {report.updated:,} 个、"
              f"未变 {report.unchanged:,} 个站点（共 {len(reg):,} 个；{reg.path}）")
        if len(stations):
            cs = reg.history(limit=1)[0]
            print(f"本次导入记为变更 #{cs.id}；如需撤销：geomap undo {cs.id}")
    return 0


def cmd_stations(args: argparse.Namespace, ws: Workspace) -> int:
    reg = ws.registry
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
    print(f"{ws.name}：共 {len(df)} 个站点（{reg.path}）")
    return 0


def _mode_label(mode: str) -> str:
    from geomap.network.graph import load_profiles
    return load_profiles()[mode].label or mode


def _resolve_mode(args: argparse.Namespace, ws: Workspace) -> str | None:
    """--straight -> None; --mode X -> X; neither -> the default mode when the workspace has a network."""
    if args.straight and args.mode:
        raise CliError("--straight and --mode exclude each other: choose one")
    if args.straight:
        return None
    if args.mode:
        return args.mode
    if ws.has_network:
        return get_settings().default_mode
    print(f"（工作区“{ws.name}”没有路网，按直线距离计算；在 geomap.toml 设置 osm_path 或运行 "
          "`geomap network build --osm FILE` 可建立路网）", file=sys.stderr)
    return None


def _geojson_line(line, *, crs: str) -> dict[str, Any] | None:
    if line is None:
        return None
    import shapely
    xy = shapely.get_coordinates(line)
    lon, lat = coords.from_wgs84(xy[:, 0], xy[:, 1], dst=crs)
    return {"type": "LineString", "coordinates": [[round(float(a), 7), round(float(b), 7)]
                                                  for a, b in zip(lon, lat, strict=True)]}


def cmd_nearest(args: argparse.Namespace, ws: Workspace) -> int:
    reg = ws.registry
    crs = coords.normalize_crs(args.crs)
    when = parse_when(args.open_at)
    mode = _resolve_mode(args, ws)
    if len(reg) == 0:
        raise CliError(f"{ws.name}的站点库是空的：先用 `geomap import 名单文件` 导入站点")
    res = ws.nearest(args.lon, args.lat, k=args.k, kind=args.kind, amenity=args.amenity, open_at=when, crs=crs,
                     mode=mode)
    if res.status is not None and res.status[0] == "outside_area":
        raise CliError(f"该位置不在本服务范围（{ws.area_label}）内：{ws.name}的路网覆盖不到这里")
    if res.status is not None and res.status[0] == "far_from_streets":
        d = float(res.query_snap_m[0]) if res.query_snap_m is not None else float("inf")
        far = f"离最近的道路约 {_fmt_distance(d)}" if math.isfinite(d) else "附近没有道路"
        raise CliError(f"该位置{far}，超过可接入路网的 {ws.settings.max_snap_m:,.0f} m：请换一个靠近道路的点")
    ranks = [r for r in range(res.k) if res.station_id[0, r] is not None]
    unrouted = _unrouted_lines(res, reg, found=len(ranks))
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
        out = {"place": ws.name, "query": {"lon": args.lon, "lat": args.lat, "crs": crs}, "mode": mode or "straight",
               "filters": {"kind": args.kind, "amenity": args.amenity,
                           "open_at": when.isoformat() if when else None},
               "results": results, "unrouted": unrouted}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    cond = [x for x in (args.kind and f"类型={args.kind}", args.amenity and f"设施={args.amenity}",
                        when and f"{when:%Y-%m-%d %H:%M} 开放") if x]
    print(f"{ws.name} · 查询点 ({args.lon}, {args.lat}) [{crs}]" + (f"，条件：{'，'.join(cond)}" if cond else ""))
    if not ranks:
        print("附近没有符合条件的站点。" if mode is None else "沿路网到达不了符合条件的站点。")
        for line in unrouted:
            print(line)
        return 0
    how = "直线距离" if mode is None else f"{_mode_label(mode)}，沿道路"
    print(f"最近 {len(ranks)} 个站点（{how}）：")
    for n, (r, st) in enumerate(zip(ranks, sts, strict=True)):
        assert st is not None
        d = _fmt_distance(float(res.distance_m[0, r]))
        head = d if res.travel_s is None else f"{float(res.travel_s[0, r]) / 60:.1f} 分钟（{d}）"
        _print_station(st, crs=crs, prefix=f"{n + 1}. {head}  ")
    for line in unrouted:
        print(line)
    return 0


def _unrouted_lines(res: Any, reg: Any, *, found: int) -> list[str]:
    """Stations no street reaches that are nearer by straight line than the last one found (Chinese)."""
    if res.unrouted_id is None:
        return []
    reach = float(res.distance_m[0, found - 1]) if found == res.k else float("inf")
    out = []
    for sid, m, street_m in zip(res.unrouted_id[0], res.unrouted_m[0], res.unrouted_street_m[0], strict=True):
        if sid is None or m > reach:
            continue
        st = reg.get(sid)
        far = f"离最近的道路约 {_fmt_distance(float(street_m))}" if math.isfinite(street_m) else "附近没有道路数据"
        out.append(f"另有 {st.name if st else sid}：直线 {_fmt_distance(float(m))}，但{far}，无法按路网计算时间")
    return out


def cmd_network(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.workspace import set_workspace_value

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise CliError(f"--modes {','.join(bad)}: use some of {','.join(MODES)}")
    if args.osm:
        osm = Path(args.osm)
        if not osm.is_file():
            raise CliError(f"找不到 OSM 文件：{osm}")
        if ws.osm_path is None or osm.resolve() != ws.osm_path.resolve():
            ws = set_workspace_value(ws, "osm_path", osm.resolve())
            use_settings(ws.settings)
            print(f"工作区“{ws.name}”的路网数据改为 {osm}（已写入 {ws.root / 'geomap.toml'}）", file=sys.stderr)
    graphs = ws.graphs(modes, progress=not args.quiet)
    for mode, g in graphs.items():
        origin = "cache" if g.from_cache else "built"
        print(f"{mode:<6} {_mode_label(mode)}: {g.n_nodes:,} nodes, {g.n_streets:,} streets, "
              f"{g.n_edges:,} directed edges ({origin})")
    print(f"{ws.name}的路网缓存在 {ws.cache_dir}", file=sys.stderr)
    return 0


def cmd_isochrone(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.network.isochrones import isochrones

    reg = ws.registry
    crs = coords.normalize_crs(args.crs)
    out_crs = coords.normalize_crs(args.out_crs or "wgs84")
    minutes = _minutes_list(args.minutes)
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
    graph = ws.graph(args.mode)
    fc = isochrones(graph, lon=float(lon), lat=float(lat), minutes=minutes, origin_ids=[origin_id], crs=out_crs,
                    as_geojson=True)
    fc["properties"] = {"place": ws.name, "mode": args.mode, "coord_system": out_crs}
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


def _circle_graph(ws: Workspace, mode: str | None, *, wanted: bool) -> Any:
    """The street graph for the service circles of a map or poster (None when the workspace has no network)."""
    if not wanted or not ws.has_network:
        return None
    return ws.graph(mode or get_settings().default_mode)


def cmd_map(args: argparse.Namespace, ws: Workspace) -> int:
    """`geomap map`: the self-contained service map (geomap.publish.maps.write_map), with the proposed sites of
    `geomap plan --out` and their before / after when --sites is given."""
    from geomap.publish.maps import write_map
    from geomap.publish.sites import before_after, is_sites_file, read_sites

    gaps, sites_path = args.gaps, args.sites
    if gaps and not Path(gaps).exists():
        raise CliError(f"找不到空白网格文件：{gaps}")
    if gaps and is_sites_file(gaps):  # a plan's output given as --gaps: it is the sites layer
        if sites_path:
            raise CliError(f"{gaps} 是选址结果（点），不是空白网格：请只用 --sites 指定")
        print(f"注：{gaps} 是 `geomap plan` 的选址结果，按 --sites 画出拟建站点", file=sys.stderr)
        gaps, sites_path = None, gaps
    layers = args.layers
    if layers is not None and args.gaps and not gaps:
        layers = ",".join(x if x.strip() != "gaps" else "sites" for x in layers.split(","))
    figures = None
    if sites_path:
        if not Path(sites_path).exists():
            raise CliError(f"找不到选址文件：{sites_path}")
        sites = read_sites(sites_path)
        mode = args.mode or ws.settings.default_mode
        minutes = args.sites_minutes if args.sites_minutes is not None else ws.settings.default_minutes
        study = ws.study()
        frame = ws.registry.frame()
        with ws.in_force():
            figures = before_after(ws.graph(mode), station_lon=frame["lon"], station_lat=frame["lat"], sites=sites,
                                   demand=study.demand, minutes=minutes, mode=mode, absent=study.absent)
    wants_circles = layers is None or "circles" in layers
    s = write_map(args.out, ws.registry, tiles=args.tiles, layers=layers, mode=args.mode,
                  minutes=_minutes_list(args.minutes), gaps=gaps, osm_path=ws.osm_path,
                  graph=_circle_graph(ws, args.mode, wanted=wants_circles or figures is not None), title=args.title,
                  place=ws.name, publisher=ws.publisher, sites=figures)
    print(f"已写入{ws.name}服务地图 {s.path}：{s.stations} 个站点，图层 {', '.join(s.layers)}，"
          f"底图 {s.tiles}（{s.coord_system}），"
          f"{s.size_bytes / 1e6:.2f} MB")
    if figures is not None:
        print(f"拟建站点 {len(figures.sites)} 个（{figures.minutes:g} 分钟）：")
        from geomap.publish.maps import _extract_data

        for line in _extract_data(Path(s.path).read_text(encoding="utf-8"))["sites"]["lines"]:
            print(f"  {line}")
    return 0


def cmd_poster(args: argparse.Namespace, ws: Workspace) -> int:
    """`geomap poster`: the printable directory, PDF (all pages) or PNG (geomap.publish.poster.make_poster)."""
    from geomap.publish.poster import make_poster

    s = make_poster(ws.registry, args.out, title=args.title, mode=args.mode, minutes=_minutes_list(args.minutes),
                    circles=not args.no_circles, osm_path=ws.osm_path,
                    graph=_circle_graph(ws, args.mode, wanted=not args.no_circles), paper=args.paper,
                    landscape=args.landscape, dpi=args.dpi, place=ws.name, publisher=ws.publisher)
    if s.missing_glyphs:
        print(f"注意：字体缺少这些字符的字形：{''.join(sorted(s.missing_glyphs))}", file=sys.stderr)
    files = "、".join(str(p) for p in s.paths)
    print(f"已写入{ws.name}站点海报 {files}：{s.stations} 个站点，{s.paper}，共 {s.pages} 页"
          + (f"，{s.dpi} dpi" if s.dpi else "（矢量 PDF）"))
    if s.qr_url:
        print(f"二维码：{s.qr_url}")
    else:
        print("未印二维码：工作区没有设置 public_url（在线地图或骑手页面的网址）", file=sys.stderr)
    return 0


def cmd_profiles(args: argparse.Namespace, ws: Workspace | None = None) -> int:
    from geomap.stations.readers import load_profile

    for name in list_profiles():
        print(f"{name}: {load_profile(name).description}")
    return 0


def cmd_serve(args: argparse.Namespace, ws: Workspace) -> int:
    from geomap.api.serve import serve

    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: use 1–65535")
    if args.workers < 1:
        raise CliError(f"--workers {args.workers}: use 1 or more")
    serve(workspace=ws.root, host=args.host, port=args.port, workers=args.workers, access_log=not args.no_access_log)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """`geomap init DIR`: create a workspace and say what to do next."""
    ws = init_workspace(args.dir, name=args.name, osm=args.osm, publisher=args.publisher or "",
                        area_label=args.area_label, boundary=args.boundary, boundary_crs=args.boundary_crs,
                        population=args.population, subdistricts=args.subdistricts,
                        subdistricts_crs=args.subdistricts_crs, lists_crs=args.lists_crs, copy=args.copy,
                        force=args.force)
    here = Path(args.dir)
    print(f"已创建工作区“{ws.name}”：{ws.root / 'geomap.toml'}")
    if ws.settings.population_path is None:
        print("  （未给人口普查数据：规划报告不含常住人口，可在 geomap.toml 设置 population_path）")
    print("下一步：")
    print(f"  cd {here}")
    crs_hint = "" if ws.settings.lists_crs else " --crs gcj02"
    print(f"  geomap import 站点名单.xlsx{crs_hint}   # 导入站点（坐标系按名单来源）")
    if ws.has_network:
        print("  geomap network build                # 建立步行、电动自行车、汽车、货车路网（首次较慢，之后读缓存）")
    else:
        print("  geomap network build --osm 路网.osm.pbf   # 设置并建立路网")
    print("  geomap serve                        # 启动服务：骑手页面和 API")
    return 0


def cmd_info(args: argparse.Namespace, ws: Workspace) -> int:
    """`geomap info`: the workspace's place, publisher and files."""
    d = ws.describe()
    if args.json:
        d["stations"] = len(ws.registry) if ws.registry_path.exists() else 0
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    print(f"工作区：{ws.root}")
    print(f"地名：{ws.name}    发布单位：{ws.publisher or '（未设置）'}    服务范围：{ws.area_label}")
    print(f"名单坐标系：{ws.settings.lists_crs or '（未设置，导入时用 --crs 指定）'}")
    labels = {"osm_path": "路网（OSM）", "registry_path": "站点库", "population_path": "人口普查",
              "subdistricts_path": "街道边界", "study_area_path": "本地边界"}
    for key, label in labels.items():
        f = d["files"][key]
        state = "未设置" if f is None else (f["path"] + ("" if f["exists"] else "（文件不存在！）"))
        print(f"{label}：{state}")
    if ws.registry_path.exists():
        print(f"站点：{len(ws.registry)} 个")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="geomap", description="新就业形态劳动者服务地图 / service map and "
                                "nearest-station locator for outdoor workers")
    p.add_argument("--workspace", "-w", type=Path, default=None,
                   help="the workspace folder (default: $GEOMAP_WORKSPACE, else the current folder or a parent "
                   "holding geomap.toml)")
    sub = p.add_subparsers(dest="command", required=True)

    ini = sub.add_parser("init", help="create a workspace (one place: its data and settings) in a folder")
    ini.add_argument("dir", type=Path, help="the workspace folder (created if missing)")
    ini.add_argument("--name", required=True, help="the place as people say it, e.g. 北京市海淀区")
    ini.add_argument("--osm", default=None, help="the place's OpenStreetMap extract (.osm.pbf or .osm)")
    ini.add_argument("--publisher", default=None, help="who publishes the map, e.g. 海淀区总工会")
    ini.add_argument("--area-label", default=None, help="words for the area the streets cover (default: --name)")
    ini.add_argument("--boundary", default=None, help="the place's outline (study area), GeoJSON / GeoPackage")
    ini.add_argument("--boundary-crs", default="wgs84", help="its coordinate system: wgs84, gcj02, bd09")
    ini.add_argument("--population", default=None, help="census CSV: subdistrict_name, population, area_km2")
    ini.add_argument("--subdistricts", default=None, help="街道 boundaries (a name column)")
    ini.add_argument("--subdistricts-crs", default="wgs84", help="their coordinate system")
    ini.add_argument("--lists-crs", default=None, help="the usual coordinate system of the station lists")
    ini.add_argument("--copy", action="store_true", help="copy the files into the workspace folder")
    ini.add_argument("--force", action="store_true", help="rewrite an existing geomap.toml")
    ini.set_defaults(func=cmd_init)

    info = sub.add_parser("info", help="the workspace: place, publisher, files, stations")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    imp = sub.add_parser("import", help="import a station list (CSV, XLSX, GeoJSON, GeoPackage, profile JSON)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--crs", default=None, help="coordinate system of the file: wgs84, gcj02 or bd09 "
                     "(default: found from how close the stations lie to the place's streets; else the "
                     "workspace's lists_crs)")
    imp.add_argument("--kind", default=None, help="the kind of every station without one of its own "
                     "(工会驿站, 司机之家, 爱心食堂, 休息点 …)")
    imp.add_argument("--update", action="store_true", help="the file updates stations already in the registry "
                     "(without it a changed station is reported as a conflict, not written)")
    imp.add_argument("--profile", default=None, help=f"import profile ({', '.join(list_profiles())})")
    imp.add_argument("--column", action="append", metavar="HEADER=FIELD",
                     help="map a file column to a field (name, kind, lon, lat, address, opening_hours, …)")
    imp.add_argument("--geocode", default=None, choices=["amap", "tianditu", "osm", "none"],
                     help="place rows that give an address or name but no coordinates: amap (高德, needs "
                     "GEOMAP_AMAP_KEY), tianditu (天地图, needs GEOMAP_TIANDITU_SERVER_KEY), osm (offline, the "
                     "workspace's OpenStreetMap extract) or none (default: the workspace's geocoder setting)")
    imp.add_argument("--skip-invalid", action="store_true", help="import the valid rows, list the others")
    imp.add_argument("--keep-duplicates", action="store_true", help="flag duplicate places but keep both")
    imp.add_argument("--report", type=Path, default=None, help="write the validation report as CSV")
    imp.add_argument("--sheet", default=None, help="XLSX sheet name (default: the sheet with the station columns)")
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
    nr.add_argument("--json", action="store_true")
    nr.set_defaults(func=cmd_nearest)

    nw = sub.add_parser("network", help="build the workspace's street networks (cached in the workspace)")
    nw.add_argument("action", choices=["build"])
    nw.add_argument("--osm", default=None, help="an OSM .osm.pbf or .osm file: becomes the workspace's osm_path")
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
    iso.add_argument("--out", default=None, help="GeoJSON file to write (default: print)")
    iso.add_argument("--out-crs", default=None, help="coordinate system of the output polygons (wgs84)")
    iso.set_defaults(func=cmd_isochrone)

    mp = sub.add_parser("map", help="the self-contained service map (综合服务地图) as one HTML file")
    mp.add_argument("--out", required=True, help="HTML file to write, e.g. service_map.html")
    mp.add_argument("--tiles", default=None, choices=["none", "osm", "amap", "tianditu"],
                    help="base map (default settings.map_tiles = none: streets from the OSM extract, no network)")
    mp.add_argument("--layers", default=None, help="comma list of stations,circles,gaps,sites (default "
                    "stations,circles, plus gaps / sites when --gaps / --sites is given)")
    mp.add_argument("--mode", default=None, choices=MODES, help="travel mode of the service circles")
    mp.add_argument("--minutes", default="5,10,15", help="service-circle bands in minutes")
    mp.add_argument("--gaps", default=None, help="gap grid GeoJSON (output of `geomap gaps --out`)")
    mp.add_argument("--sites", default=None, help="proposed sites GeoJSON (output of `geomap plan --out`): drawn with "
                    "the area they newly reach and the coverage before / after")
    mp.add_argument("--sites-minutes", type=float, default=None,
                    help="the service-circle size the plan used (default settings.default_minutes = 15, as plan)")
    mp.add_argument("--title", default=None, help="page title")
    mp.set_defaults(func=cmd_map)

    po = sub.add_parser("poster", help="printable directory: the map with numbered stations and their index (PDF)")
    po.add_argument("--out", required=True, help="poster.pdf (every page) or poster.png (page 2 on as poster-2.png …)")
    po.add_argument("--title", default=None, help="poster title")
    po.add_argument("--mode", default=None, choices=MODES, help="travel mode of the service circles")
    po.add_argument("--minutes", default="5,10,15", help="service-circle bands in minutes")
    po.add_argument("--no-circles", action="store_true", help="leave the service circles out")
    po.add_argument("--size", "--paper", dest="paper", default="A3", type=str.upper,
                    choices=["A0", "A1", "A2", "A3", "A4"], help="paper size: a3 (default) or a4 (A0-A2 too)")
    po.add_argument("--landscape", action="store_true", help="landscape instead of portrait")
    po.add_argument("--dpi", type=int, default=None, help="PNG resolution (default settings.poster_dpi = 300)")
    po.set_defaults(func=cmd_poster)

    pr = sub.add_parser("profiles", help="list the shipped import profiles")
    pr.set_defaults(func=cmd_profiles)

    sv = sub.add_parser("serve", help="run the HTTP service and the rider page (uvicorn)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=1,
                    help="worker processes (each holds its own copy of the graphs; all follow the registry)")
    sv.add_argument("--no-access-log", action="store_true",
                    help="no log line per request (behind a proxy that logs requests itself)")
    sv.set_defaults(func=cmd_serve)

    from geomap.cli.history import add_parsers as add_history_parsers
    from geomap.cli.plan import add_parsers as add_planner_parsers
    from geomap.cli.report import add_parsers as add_report_parsers

    add_planner_parsers(sub)
    add_report_parsers(sub)
    add_history_parsers(sub)
    from geomap.cli.regions import add_options as add_regions_options

    add_regions_options(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("init", "profiles"):
            return int(args.func(args))
        if getattr(args, "k", 1) < 1:
            raise CliError("--k must be at least 1")
        from geomap.cli import regions

        root = regions.regions_root(args.workspace)
        if root is not None:  # a province's or the country's workspace: its regions (geomap/regions)
            return regions.run(args, root)
        if args.command == "regions":
            raise CliError("geomap regions 只用于多地区工作区（geomap.toml 里有 [[regions]]，见 docs/regions.md）")
        ws = open_workspace(args.workspace)
        use_settings(ws.settings)
        return int(args.func(args, ws))
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except (CliError, ValueError, KeyError, FileNotFoundError, ConnectionError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"geomap: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
