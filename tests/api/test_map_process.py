"""The map process (``geomap.api.map_build``) does not outlive the service that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from geomap.api import map_build
from tests._workspaces import made_up_place

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, signal, sys, types
from geomap.api import map_build
state = types.SimpleNamespace()
pid = map_build._executor(state).submit(os.getpid).result(timeout=120)
print(pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the service killed: no shutdown, no atexit
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_map_process_exits_when_the_service_is_killed(tmp_path):
    out = tmp_path / "out.txt"
    with out.open("w") as f:  # a file, not a pipe: a surviving child would keep a pipe open
        proc = subprocess.run([sys.executable, "-c", SCRIPT], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                              timeout=180)
    text = out.read_text()
    assert proc.returncode == -9, text
    child = int(text.split()[0])
    assert child > 0
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(child)
    if alive:  # do not leave it behind either way
        os.kill(child, 9)
    assert not alive, "the map process outlived the service that started it"


PRIORITY_SCRIPT = """
import os, types
from geomap.api import map_build
ex = map_build._executor(types.SimpleNamespace())
print(os.sched_getscheduler(0), ex.submit(os.sched_getscheduler, 0).result(timeout=120))
ex.shutdown()
"""


def test_map_process_runs_below_the_service():
    """Riders first: the map process runs under the idle scheduling policy, the service under the normal one."""
    out = subprocess.run([sys.executable, "-c", PRIORITY_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                         timeout=180, check=True).stdout.split()
    service, child = int(out[0]), int(out[1])
    assert (service, child) == (os.SCHED_OTHER, os.SCHED_IDLE)


def test_workers_share_one_build_per_station_set(tmp_path, monkeypatch):
    """Two service workers' map processes render a station set's map once (the second reads it from the
    workspace's cache); an edit makes a new page and removes the old one."""
    from geomap.publish import maps

    ws, _ = made_up_place(tmp_path / "p", nodes=400, stations=6)
    renders = []
    real = maps.render_map
    monkeypatch.setattr(maps, "render_map", lambda *a, **kw: renders.append(1) or real(*a, **kw))
    monkeypatch.setattr(map_build, "_CHILD_WORKSPACES", {})
    first = map_build.render_in_child(str(ws.root), "ebike")
    monkeypatch.setattr(map_build, "_CHILD_WORKSPACES", {})  # another worker's map process
    second = map_build.render_in_child(str(ws.root), "ebike")
    assert len(renders) == 1 and second == first and "北京市海淀区" in first
    pages = list((ws.cache_dir / "map").glob("*.html"))
    assert len(pages) == 1
    sid = ws.registry.frame()["id"].iloc[0]
    assert ws.registry.delete([sid]) == 1
    third = map_build.render_in_child(str(ws.root), "ebike")
    assert len(renders) == 2 and third != first
    assert [p.name for p in (ws.cache_dir / "map").glob("*.html")] != [pages[0].name]
    assert len(list((ws.cache_dir / "map").glob("*.html"))) == 1
