"""Run `geomap` commands in one process that records every file it opens or lists (Python audit hooks).

    python tests/_audited.py LOG PLAN_JSON

PLAN_JSON is a list of steps ``{"cwd": folder, "argv": [...]}``; each step changes to ``cwd`` and runs
``geomap.cli.main.main(argv)``. Every ``open`` / ``sqlite3.connect`` / ``os.listdir`` / ``os.scandir`` /
``glob.glob`` of a path is appended to LOG as ``event<TAB>absolute path`` (written with ``os.write`` on a
descriptor opened before the hook, so recording opens nothing). The exit codes of the steps are printed
as JSON on the last line of stdout. Files opened by C libraries themselves (GDAL, pyosmium) are not seen;
geomap fingerprints every OSM file it routes on with Python's ``open`` first, so those reads are.
"""

from __future__ import annotations

import json
import os
import sys

EVENTS = {"open", "sqlite3.connect", "os.listdir", "os.scandir", "glob.glob"}


def main() -> int:
    log_path, plan = sys.argv[1], json.loads(sys.argv[2])
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def hook(event: str, args: tuple) -> None:
        if event not in EVENTS or not args:
            return
        p = args[0]
        if isinstance(p, str | bytes | os.PathLike):
            path = os.path.abspath(os.path.join(os.getcwd(), os.fsdecode(p)))
            os.write(fd, f"{event}\t{path}\n".encode("utf-8", "surrogateescape"))

    sys.addaudithook(hook)
    from geomap.cli.main import main as geomap_main

    codes = []
    for step in plan:
        os.chdir(step["cwd"])
        codes.append(geomap_main(step["argv"]))
        sys.stdout.flush()
    print(json.dumps(codes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
