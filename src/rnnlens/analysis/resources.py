"""Seconds and peak memory of one stretch of work (an analysis section), with what each number means.

Peak memory is the process's peak resident set size (RSS, MiB = 2**20 bytes). On Linux the peak is reset
when the stretch starts (writing ``5`` to ``/proc/self/clear_refs`` sets ``VmHWM`` to the current RSS) and
read from ``VmHWM`` of ``/proc/self/status`` when it ends: the stretch's own peak. Where that cannot be
done, the peak is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the process's peak since it started,
which shows a stretch's own peak only when it is above every earlier one; :func:`definitions` says which
was used. The kernel derives ``ru_maxrss`` from the same high-water mark, so after a reset it (and what
``/usr/bin/time -v`` reports) is the peak since the last reset, not the process's: the highest section
peak is the analysis's. Before each stretch the memory freed so far is given back to the system (glibc's
``malloc_trim``; the command line keeps freed memory for reuse, :mod:`rnnlens._memory`), so pages an earlier
section freed neither count in a later one's start nor hide its growth. No torch here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Usage", "measured", "definitions", "PEAK_DEFINITIONS"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_MIB = 2**20

PEAK_DEFINITIONS = {
    "VmHWM": (
        "peak resident set size of the process during the section, MiB (2^20 bytes): VmHWM of "
        "/proc/self/status, reset to the current RSS by writing 5 to /proc/self/clear_refs as the section "
        "starts (after the memory freed before it is given back to the system: glibc's malloc_trim)"
    ),
    "ru_maxrss": (
        "peak resident set size of the process from its start to the section's end, MiB (2^20 "
        "bytes): resource.getrusage ru_maxrss (the peak could not be reset here, so a section shows "
        "its own peak only when it is above every earlier one)"
    ),
    None: "not measured (neither /proc/self/status nor the resource module is available here)",
}


@dataclass
class Usage:
    """What one stretch used: wall-clock ``seconds``, ``peak_mib`` and ``start_mib`` (RSS, MiB; None when
    unknown) and ``method`` (the key of :data:`PEAK_DEFINITIONS` that says what ``peak_mib`` is)."""

    seconds: float = 0.0
    peak_mib: float | None = None
    start_mib: float | None = None
    method: str | None = None


def _status_mib(field: str) -> float | None:
    """``field`` (e.g. ``VmHWM``, ``VmRSS``) of /proc/self/status in MiB, or None."""
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / _MIB  # the kernel writes kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS; False where it cannot be (not Linux, /proc read-only, old kernel)."""
    try:
        _CLEAR_REFS.write_text("5", encoding="ascii")
    except OSError:
        return False
    return _status_mib("VmHWM") is not None


def _maxrss_mib() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MIB if sys.platform == "darwin" else peak * 1024 / _MIB  # bytes on macOS, KiB elsewhere


@contextmanager
def measured() -> Iterator[Usage]:
    """Measure the block: the :class:`Usage` yielded is filled in when the block ends (also when it raises)."""
    from rnnlens._memory import release_freed_memory

    release_freed_memory()  # what earlier work freed goes back first, so the block's peak is its own
    usage = Usage(start_mib=_status_mib("VmRSS"))
    reset = _reset_peak()
    t0 = time.perf_counter()
    try:
        yield usage
    finally:
        usage.seconds = time.perf_counter() - t0
        usage.peak_mib = _status_mib("VmHWM") if reset else _maxrss_mib()
        usage.method = "VmHWM" if reset else ("ru_maxrss" if usage.peak_mib is not None else None)


def definitions(methods) -> dict:
    """The definitions of the recorded numbers, for peaks measured with ``methods`` (normally one)."""
    peaks = [PEAK_DEFINITIONS[m] for m in dict.fromkeys(methods)] or [PEAK_DEFINITIONS["VmHWM"]]
    return {
        "section_seconds": "wall-clock seconds of the section's measurement (time.perf_counter)",
        "section_peak_rss_mib": peaks[0] if len(peaks) == 1 else "by section, either " + "; or ".join(peaks),
        "section_start_rss_mib": (
            "resident set size of the process as the section starts, MiB (2^20 bytes): "
            "VmRSS of /proc/self/status (absent where there is none)"
        ),
    }
