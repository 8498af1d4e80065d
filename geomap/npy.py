"""Reading ``.npy`` files from several threads at once.

``numpy.load`` parses each file's header with :func:`ast.literal_eval`. On CPython 3.11 before the fix of
gh-106905 (https://github.com/python/cpython/issues/106905) the AST constructor's recursion depth is
shared state, and two threads parsing at once can fail with ``SystemError: AST constructor recursion
depth mismatch``: the service's four modes load their labels side by side in threads after an edit, and
one such failure dropped a worker's connections. Every ``.npy`` read in geomap goes through :func:`load`,
which parses one header at a time (the data itself is memory-mapped or read outside the lock's cost).

A memory-mapped file comes back as a plain :class:`numpy.ndarray` over the mapping (its ``base`` the
:class:`numpy.memmap`, which keeps the mapping open), not as the ``memmap`` subclass: numba's dispatcher
types a subclass through a slow path, and the rider's query kernel, which takes ~40 mapped arrays, spent
22 µs a call getting in instead of 8 µs (measured on the 1M-node city)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

_HEADER_LOCK = threading.Lock()


def load(path: str | Path, *, mmap_mode: Literal["r", "r+", "c"] | None = None) -> Any:
    """:func:`numpy.load` of one ``.npy`` file, safe to call from several threads."""
    with _HEADER_LOCK:
        arr = np.load(path, mmap_mode=mmap_mode)
    return np.asarray(arr) if isinstance(arr, np.memmap) else arr
