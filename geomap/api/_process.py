"""Run ``geomap serve`` as a child process on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_server(*, workspace: str | Path | None, log_path: str | Path, admin_token: str | None = None,
                 env: dict[str, str] | None = None, timeout_s: float = 120.0, workers: int = 1,
                 access_log: bool = True, cwd: str | Path | None = None) -> ServerProcess:
    """Start ``python -m geomap.cli --workspace W serve`` on a free port and wait until ``/healthz`` answers
    (with ``workers`` > 1: until that many different workers have answered). ``workspace=None``: the
    service finds its workspace from ``cwd`` (the folder it runs in) as every command does."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if k != "GEOMAP_ADMIN_TOKEN"}
    if admin_token is not None:
        child_env["GEOMAP_ADMIN_TOKEN"] = admin_token
    child_env.update(env or {})
    log_path = Path(log_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "geomap.cli", *([] if workspace is None else ["--workspace", str(workspace)]),
             "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             *([] if access_log else ["--no-access-log"])],
            stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=cwd)
    server = ServerProcess(proc=proc, url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + timeout_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"geomap serve exited with {proc.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as r:
                seen.add(json.loads(r.read())["worker_pid"])
                if len(seen) >= workers:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"geomap serve did not answer within {timeout_s} s:\n{server.log()}")
