"""`make serve`: run the geomap HTTP service and rider page on a workspace (the sample: data/yangpu).

Loads the workspace's registry and the street networks of all modes once, prints the URLs of the rider
page and of the API documentation, and serves on 127.0.0.1 until Ctrl-C. Admin writes need
GEOMAP_ADMIN_TOKEN in the environment (without it they are refused and the log says so).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geomap.api.serve import serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    url = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
    print(f"geomap 服务启动中… 骑手页面 / rider page: {url}/   API 文档 / docs: {url}/docs", flush=True)
    serve(workspace=args.workspace, host=args.host, port=args.port, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
