"""glibc's malloc set for rnnlens's large, short-lived arrays, in the command line's processes only.

By default glibc serves each allocation above its mmap threshold (128 KiB, rising to at most 32 MiB as blocks
are freed) with a fresh ``mmap`` and hands it back to the kernel when freed, so the next array of that size
faults every page in again. An analysis makes and drops such arrays all the time (batches of states, float64
copies, per-point Jacobians): on the project's 2-core VM the 256-mode LRU's analysis took 4.6 million page faults
and 8.9 of its 28.6 s in the kernel, a 256-unit GRU's 11 million and 22.7 of 124.4 s. Served from the heap
(``M_MMAP_MAX = 0``) and kept there when freed (``M_TRIM_THRESHOLD`` at its largest, 2 GiB), the same pages are
used again: the LRU 26-28 s, the GRU 114.6 s (2.3 million faults, 4.9 s in the kernel).

Within each analysis section the pages are reused; between sections :func:`release_freed_memory` gives back what
the last one freed (``malloc_trim``), so a section's peak memory (``rnnlens.analysis.resources``) is its own and
not hidden by pages an earlier section left behind (without it the LRU took 24-26 s, but a section reusing pages
an earlier one freed showed no rise in memory). The peaks stay about where they were.

:func:`reuse_freed_memory` does it for the running process (``mallopt``) and, through glibc's environment
variables, for the processes it starts (sweep workers, benchmarks). Nothing happens off Linux, without glibc, when
the user has set glibc's ``MALLOC_MMAP_MAX_`` or ``MALLOC_TRIM_THRESHOLD_`` (theirs apply), or with
``RNNLENS_MALLOC=system`` (glibc's defaults). The Python API never calls it: a library does not change the
allocator settings of its user's process (an analysis only gives freed memory back between its sections).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["reuse_freed_memory", "release_freed_memory", "ENV"]

ENV = "RNNLENS_MALLOC"  # "system": leave glibc's defaults
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's <malloc.h>
_TRIM = 2**31 - 1  # mallopt takes an int: the largest trim threshold it can set
_GLIBC_VARS = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(_TRIM)}


def reuse_freed_memory(environ: dict | None = None) -> bool:
    """Serve every allocation from the heap and keep freed memory for reuse (see the module); True when set."""
    env = os.environ if environ is None else environ
    choice = env.get(ENV, "reuse")
    if choice not in ("reuse", "system"):
        from rnnlens.errors import ArgumentError

        raise ArgumentError(f"{ENV}={choice!r}: use 'reuse' (the default) or 'system' (glibc's own malloc settings)")
    if choice == "system" or sys.platform != "linux" or any(k in env for k in _GLIBC_VARS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not (mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _TRIM)):
        return False
    env.update(_GLIBC_VARS)  # for the processes started from here: glibc reads them as they start
    return True


def release_freed_memory() -> bool:
    """Give the memory freed so far back to the system (glibc's ``malloc_trim(0)``; True when it did; nothing
    happens off glibc)."""
    if sys.platform != "linux":
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
