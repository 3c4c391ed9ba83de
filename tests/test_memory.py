"""The command line's malloc setting (rnnlens._memory): freed memory is reused instead of faulted in again."""

import os
import subprocess
import sys

import pytest

from rnnlens._memory import ENV, reuse_freed_memory
from rnnlens.errors import ArgumentError

linux_glibc = pytest.mark.skipif(
    sys.platform != "linux" or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc's mallopt only"
)

# in a fresh process: a 64 MiB array made, freed and made again; the page faults of the second one
_FAULTS = """
import resource, sys
import numpy as np
from rnnlens._memory import reuse_freed_memory
print(reuse_freed_memory(), file=sys.stderr)
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(2**23); del a
before = faults(); a = np.ones(2**23); del a
print(faults() - before)
"""


def _second_array_faults(**env) -> int:
    run_env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", ENV)}
    run_env.update(NUMPY_MADVISE_HUGEPAGE="0", **env)
    done = subprocess.run([sys.executable, "-c", _FAULTS], env=run_env, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@linux_glibc
def test_freed_memory_is_reused_without_page_faults():
    pages = 2**26 // os.sysconf("SC_PAGE_SIZE")  # a 64 MiB array's pages
    assert _second_array_faults(**{ENV: "system"}) > 0.9 * pages  # glibc's default: mmap, munmap, fault again
    assert _second_array_faults() < 0.05 * pages  # reused: the pages are still there


@linux_glibc
def test_the_setting_passes_to_child_processes_and_yields_to_the_users():
    env = {}
    assert reuse_freed_memory(env) is True
    assert env == {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}
    mine = {"MALLOC_TRIM_THRESHOLD_": "1000"}
    assert reuse_freed_memory(mine) is False and mine == {"MALLOC_TRIM_THRESHOLD_": "1000"}  # theirs applies


def test_system_keeps_the_defaults_and_a_bad_value_is_named():
    env = {ENV: "system"}
    assert reuse_freed_memory(env) is False and env == {ENV: "system"}
    with pytest.raises(ArgumentError, match="RNNLENS_MALLOC='fast'.*'reuse'.*'system'"):
        reuse_freed_memory({ENV: "fast"})


def test_the_command_line_names_a_bad_setting_and_exits_2():
    env = {**os.environ, ENV: "fast"}
    command = [sys.executable, "-c", "from rnnlens.cli import main; main()", "--help"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: RNNLENS_MALLOC='fast'")
