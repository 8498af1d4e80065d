"""The map process (``geomap.api.map_build``) does not outlive the service that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
