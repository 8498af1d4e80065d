"""Reading ``.npy`` files from several threads at once.

``numpy.load`` parses each file's header with :func:`ast.literal_eval`. On CPython 3.11 before the fix of
gh-106905 (https://github.com/python/cpython/issues/106905) the AST constructor's recursion depth is
shared state, and two threads parsing at once can fail with ``SystemError: AST constructor recursion
depth mismatch``: the service's four modes load their labels side by side in threads after an edit, and
one such failure dropped a worker's connections. Every ``.npy`` read in geomap goes through :func:`load`,
which parses one header at a time (the data itself is memory-mapped or read outside the lock's cost)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

_HEADER_LOCK = threading.Lock()


def load(path: str | Path, *, mmap_mode: Literal["r", "r+", "c"] | None = None) -> Any:
    """:func:`numpy.load` of one ``.npy`` file, safe to call from several threads."""
    with _HEADER_LOCK:
        return np.load(path, mmap_mode=mmap_mode)
