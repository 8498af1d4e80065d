"""The ``geomap`` command: a thin face over the library (import, stations, nearest).

Output is for people by default (Chinese labels) and JSON with ``--json``. Errors print one actionable
line to stderr and exit with status 2; no tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from geomap import coords, vocab
from geomap.registry import Registry
from geomap.settings import get_settings
from geomap.stations import Station, StationImportError, list_profiles


class CliError(Exception):
    """A user mistake: printed as one line, exit status 2."""


def parse_when(text: str | None) -> datetime | None:
    """``now``, ISO ``2026-11-23T12:30`` or ``2026-11-23 12:30`` (local time Asia/Shanghai if no zone)."""
    if text is None:
        return None
    tz = ZoneInfo(get_settings().timezone)
    if text.strip().lower() in ("now", "现在"):
        return datetime.now(tz)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--open-at {text!r}: use 'now' or a date and time like '2026-11-23 12:30'") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


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


def cmd_nearest(args: argparse.Namespace, reg: Registry) -> int:
    from geomap.nearest import nearest

    crs = coords.normalize_crs(args.crs)
    when = parse_when(args.open_at)
    res = nearest(reg.index, args.lon, args.lat, k=args.k, kind=args.kind, amenity=args.amenity,
                  open_at=when, crs=crs)
    ids = [i for i in res.station_id[0] if i is not None]
    sts = reg.stations(ids)
    if args.json:
        out = {"query": {"lon": args.lon, "lat": args.lat, "crs": crs}, "mode": "straight",
               "filters": {"kind": args.kind, "amenity": args.amenity,
                           "open_at": when.isoformat() if when else None},
               "results": [
                   {"rank": r + 1, "distance_m": round(float(res.distance_m[0, r]), 1),
                    "station": _station_json(st, crs=crs)}
                   for r, st in enumerate(sts) if st is not None]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    cond = [x for x in (args.kind and f"类型={args.kind}", args.amenity and f"设施={args.amenity}",
                        when and f"{when:%Y-%m-%d %H:%M} 开放") if x]
    print(f"查询点 ({args.lon}, {args.lat}) [{crs}]" + (f"，条件：{'，'.join(cond)}" if cond else ""))
    if not sts:
        print("附近没有符合条件的站点。")
        return 0
    print(f"最近 {len(sts)} 个站点（直线距离）：")
    for r, st in enumerate(sts):
        assert st is not None
        _print_station(st, crs=crs, prefix=f"{r + 1}. {_fmt_distance(float(res.distance_m[0, r]))}  ")
    return 0


def cmd_profiles(args: argparse.Namespace, reg: Registry | None = None) -> int:
    from geomap.stations import load_profile

    for name in list_profiles():
        print(f"{name}: {load_profile(name).description}")
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
    nr.add_argument("--json", action="store_true")
    nr.set_defaults(func=cmd_nearest)

    pr = sub.add_parser("profiles", help="list the shipped import profiles")
    pr.set_defaults(func=cmd_profiles)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "profiles":
            return args.func(args)
        reg = Registry(args.registry or get_settings().registry_path)
        if getattr(args, "k", 1) < 1:
            raise CliError("--k must be at least 1")
        return int(args.func(args, reg))
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except (CliError, ValueError, KeyError, FileNotFoundError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"geomap: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

