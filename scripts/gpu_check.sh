#!/usr/bin/env bash
# Check the GPU path end to end in under 5 minutes: train on CUDA (fused kernels), evaluate, analyze,
# then find fixed points and trace the slow manifold on CUDA, timing each step against the same step
# on this machine's CPU.
#
# Run from the repository root (rnnlens need not be installed; it runs from src/ with PYTHONPATH):
#
#     bash scripts/gpu_check.sh                      # on a machine with a CUDA GPU
#     RNNLENS_GPU_SMOKE=1 bash scripts/gpu_check.sh  # a CPU smoke test of the script itself (~1 min)
#
# Needs python3 with torch (CUDA build), numpy, scipy, scikit-learn, safetensors, click, tqdm. No data:
# it trains on the synthetic corpus (a generated language with known word valence), so the numbers
# it prints are also checked against that truth (word-valence Spearman along the slow manifold).
#
# Writes to $OUT (default $TMPDIR/rnnlens-gpu-check; the device tool sets $OUT):
#     gpu_check.txt      every step's command, output and wall time, then a summary table
#     gpu_check.json     the same numbers, machine-readable
#     analysis/          the analysis of the CUDA-trained GRU (summary.json, arrays.npz)
# Exit status: 0 when every step ran, 1 otherwise (the failed steps are named in the summary).
#
# What runs where: training, evaluation, the fixed-point search and the slow-manifold tracing on the
# device; `rnnlens analyze` runs on the CPU (it has no --device option yet: its measurements are
# numpy), on the checkpoint trained on the device.
#
# Environment: OUT, PYTHON (default python3), RNNLENS_GPU_DEVICE (default cuda; cpu with SMOKE),
# RNNLENS_GPU_SMOKE=1 (tiny sizes, 1 epoch, device cpu), RNNLENS_GPU_HIDDEN (default 256).

set -uo pipefail
export PYTHONUNBUFFERED=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:-${TMPDIR:-/tmp}/rnnlens-gpu-check}
SMOKE=${RNNLENS_GPU_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
    DEVICE=${RNNLENS_GPU_DEVICE:-cpu}; HIDDEN=${RNNLENS_GPU_HIDDEN:-16}; EPOCHS=1
    CORPUS=(--option n_train=400 --option n_validation=100 --option n_test=100)
    AN=(--n-docs 60 --n-seeds 40 --n-linear-docs 20)
else
    DEVICE=${RNNLENS_GPU_DEVICE:-cuda}; HIDDEN=${RNNLENS_GPU_HIDDEN:-256}; EPOCHS=4
    CORPUS=(--option n_train=20000 --option n_validation=2000 --option n_test=2000)
    AN=()
fi
WORK=$OUT/work
LOG=$OUT/gpu_check.txt
mkdir -p "$OUT" && rm -rf "$WORK" "$OUT/analysis" && mkdir -p "$WORK" || exit 1
: > "$LOG"
export RNNLENS_CACHE_DIR=$WORK/cache    # nothing is downloaded: the synthetic corpus is generated
declare -a NAMES=() SECS=() RCS=()

step() {   # step NAME COMMAND...: run, log the command, its output and its wall time
    local name=$1; shift
    echo "## $name: $*" >> "$LOG"
    local t0 t1 rc
    t0=$(date +%s.%N)
    "$@" >> "$LOG" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local s
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    echo "## $name: exit $rc, ${s} s" >> "$LOG"
    NAMES+=("$name"); SECS+=("$s"); RCS+=("$rc")
    echo "$name: exit $rc, ${s} s"
}

step environment "$PY" -c "
import torch, platform
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda available', torch.cuda.is_available())
if torch.cuda.is_available(): print('device', torch.cuda.get_device_name(), 'capability', torch.cuda.get_device_capability())"
for arch in gru lstm; do
    step "train-$arch" "$PY" scripts/rnnlens train --dataset synthetic "${CORPUS[@]}" --arch "$arch" \
        --hidden-size "$HIDDEN" --embed-dim 64 --epochs "$EPOCHS" --batch-size 128 --lr 2e-3 \
        --device "$DEVICE" --no-progress --no-resume --out "$WORK/$arch"
done
step evaluate-gru "$PY" scripts/rnnlens evaluate "$WORK/gru" --split test
step analyze-gru-cpu "$PY" scripts/rnnlens analyze "$WORK/gru" "${AN[@]}" -o "$OUT/analysis" --quiet
for arch in gru lstm; do
    step "trace-and-fixed-points-$arch-$DEVICE" "$PY" scripts/gpu_trace_check.py "$WORK/$arch" --device "$DEVICE" \
        --n-docs 300
    if [ "$DEVICE" != cpu ]; then
        step "trace-and-fixed-points-$arch-cpu" "$PY" scripts/gpu_trace_check.py "$WORK/$arch" --device cpu --n-docs 300
    fi
done

"$PY" - "$OUT" "$DEVICE" "${NAMES[*]}" "${SECS[*]}" "${RCS[*]}" <<'EOF' | tee -a "$LOG"
import json, sys
from pathlib import Path
out, device, names, secs, rcs = sys.argv[1], sys.argv[2], *[a.split() for a in sys.argv[3:]]
rows = [{"step": n, "seconds": float(s), "exit": int(r)} for n, s, r in zip(names, secs, rcs)]
summary = {"device": device, "steps": rows, "failed": [r["step"] for r in rows if r["exit"] != 0]}
an = Path(out) / "analysis" / "summary.json"
if an.exists():
    m = json.loads(an.read_text())["metrics"]
    sm = m.get("slow_manifold", {})
    summary["analysis"] = {k: sm[k]["value"] for k in ("one_dimensionality", "median_abs_dev_lambda1",
                                                      "readout_alignment", "spearman_truth") if k in sm}
    summary["analysis"]["rnn_accuracy"] = m["data"]["rnn_accuracy"]["value"]
(Path(out) / "gpu_check.json").write_text(json.dumps(summary, indent=1))
print("\n| step | seconds | exit |\n| --- | --- | --- |")
for r in rows:
    print(f"| {r['step']} | {r['seconds']:.1f} | {r['exit']} |")
print("analysis of the GRU trained on", device, summary.get("analysis"))
print("FAILED: " + ", ".join(summary["failed"]) if summary["failed"] else "every step ran")
sys.exit(1 if summary["failed"] else 0)
EOF
