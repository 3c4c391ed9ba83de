#!/usr/bin/env bash
# One entry point for a fresh machine: creates or refreshes .venv, installs rnnlens and what it
# needs, then runs a job.
#   ./run.sh demo            the main job (see README)
#   ./run.sh test [ARGS]     the test suite (pytest ARGS; two workers, RNNLENS_TEST_WORKERS=N for another number)
#   ./run.sh rnnlens ARGS    any rnnlens command
# Torch: on a machine without a CUDA torch, a pinned CPU build (torch==$TORCH_CPU_VERSION) is
# installed. To use your own torch (e.g. a CUDA build), either install it into .venv first, or set
# RNNLENS_TORCH_SPEC (e.g. RNNLENS_TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"),
# or RNNLENS_TORCH_SPEC=skip to keep whatever torch .venv already has.
set -euo pipefail
cd "$(dirname "$0")"
TORCH_CPU_VERSION=2.13.0
PY=${PYTHON:-python3}
VENV=${RNNLENS_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[run.sh] creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

stamp="$VENV/.rnnlens-setup-stamp"
want=$( { cat pyproject.toml; echo "${RNNLENS_TORCH_SPEC:-cpu-$TORCH_CPU_VERSION}"; } | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[run.sh] installing dependencies into $VENV" >&2
  "$VPY" -m pip install --quiet --upgrade pip >/dev/null || true
  spec=${RNNLENS_TORCH_SPEC:-}
  if [ "$spec" = "skip" ]; then
    :
  elif [ -n "$spec" ]; then
    # shellcheck disable=SC2086
    "$VPY" -m pip install --quiet $spec
  elif ! "$VPY" -c "import torch" >/dev/null 2>&1; then
    "$VPY" -m pip install --quiet "torch==$TORCH_CPU_VERSION"
  fi
  "$VPY" -m pip install --quiet -e ".[test]"
  echo "$want" > "$stamp"
fi

# Corpora: rnnlens looks in --data-dir, then $RNNLENS_DATA_DIR, then its cache. A project checkout
# with the shared corpora beside it (../shared/data) uses them unless told otherwise.
if [ -z "${RNNLENS_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  RNNLENS_DATA_DIR=$(cd ../shared/data && pwd)
  export RNNLENS_DATA_DIR
fi

job=${1:-demo}
shift || true
case "$job" in
  demo) exec "$VENV/bin/rnnlens" demo "$@" ;;
  # two pytest workers (pytest-xdist; RNNLENS_TEST_WORKERS=0 runs in one process), one torch thread each
  test) exec "$VPY" -m pytest -n "${RNNLENS_TEST_WORKERS:-2}" --dist worksteal "$@" ;;
  rnnlens) exec "$VENV/bin/rnnlens" "$@" ;;
  *) echo "usage: ./run.sh {demo|test|rnnlens} [ARGS...]" >&2; exit 2 ;;
esac
