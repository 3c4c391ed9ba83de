#!/usr/bin/env bash
# Check the GPU path end to end: train on CUDA (fused kernels), evaluate, then analyze the same network on the
# CPU and on CUDA (rnnlens analyze --device), timing both and comparing every number within the stated
# tolerances; then find fixed points and trace the slow manifold on CUDA against the CPU.
#
# Run from the repository root (rnnlens need not be installed; it runs from src/ with PYTHONPATH):
#
#     bash scripts/gpu_check.sh                         # on a machine with a CUDA GPU (meant to fit 10 minutes)
#     bash scripts/gpu_check.sh CKPT_256 CKPT_1024      # only the analysis, CPU vs CUDA, of these checkpoints
#                                                       # (one checkpoint per call fits a 10-minute limit)
#     RNNLENS_GPU_SMOKE=1 bash scripts/gpu_check.sh     # a tiny synthetic network (~1 min; on the CPU when the
#                                                       # machine has no GPU: a smoke test of the script itself)
#
# Needs python3 with torch (CUDA build), numpy, scipy, scikit-learn, safetensors, click, tqdm. Without
# checkpoints it needs no data: it trains on the synthetic corpus (a generated language with known word
# valence), so the numbers are also checked against that truth. Checkpoints given as arguments (e.g. the
# IMDB GRU-256 and GRU-1024) are analysed on the corpus they record, found offline in $RNNLENS_DATA_DIR
# (nothing is downloaded). Both analyses of a network use smaller settings than the defaults
# (RNNLENS_GPU_ANALYZE_OPTS; 200 documents, 100 seeds, ...): the CPU side of a 256- or 1,024-unit analysis
# takes many minutes at the defaults. Every analysis runs without a bag of words (--no-bow: a CPU-only fit,
# the same on both sides). Nothing here runs in CI.
#
# The comparison (benchmarks/compare_analyses.py --tolerant) holds the device's numbers to the CPU's within:
# real numbers |a - b| <= 1e-6 + 1e-3 max(|a|, |b|); counts (fixed points under tol, ...) within max(1, 2%);
# arrays within 1e-6 + 1e-3 of their largest value, rows of eigenvalues paired as sets (an array with one row
# per fixed point may differ in length as that count may); every check's verdict, every string and the status equal. A document classified
# differently moves an accuracy by 1/n_docs and is listed outside the tolerance, by name and size. Float32
# networks round differently on a GPU (cuBLAS sums in another order), and a fixed-point search stops at the
# first iterate under tol, so the two differ by rounding, not by method. The first GPU run's largest
# differences (compare-*.json) are the evidence to tighten these.
#
# Writes to $OUT (default $TMPDIR/rnnlens-gpu-check; the device tool sets $OUT):
#     gpu_check.txt          every step's command, output and wall time, then a summary table
#     gpu_check.json         the same numbers, machine-readable: per network, the CPU's and the device's seconds
#                            (whole analysis and per section), the speed-up and the comparison's result
#     analysis/NAME-cpu/, analysis/NAME-DEVICE/   the two analyses of each network (summary.json, arrays.npz;
#                            NAME-cpu-again/ when the device is the CPU: then they must be equal, bitwise)
#     compare-NAME.json      every difference between them, with its size and whether it is within tolerance
# Exit status: 0 when every step ran and every comparison held, 1 otherwise (the failed steps are named).
#
# Environment: OUT, PYTHON (default python3), RNNLENS_GPU_DEVICE (default cuda when torch sees one, else cpu),
# RNNLENS_GPU_SMOKE=1 (tiny sizes, 1 epoch), RNNLENS_GPU_HIDDEN (default 256; 16 with SMOKE),
# RNNLENS_GPU_ANALYZE_OPTS (options of both analyze runs), RNNLENS_GPU_ANALYZE_TIMEOUT (seconds per analyze
# run, default 270), RNNLENS_DATA_DIR (the checkpoints' corpora).

set -uo pipefail
export PYTHONUNBUFFERED=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:-${TMPDIR:-/tmp}/rnnlens-gpu-check}
SMOKE=${RNNLENS_GPU_SMOKE:-0}
CHECKPOINTS=("$@")
HAS_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
DEVICE=${RNNLENS_GPU_DEVICE:-$([ "$HAS_CUDA" = 1 ] && echo cuda || echo cpu)}
ANALYZE_TIMEOUT=${RNNLENS_GPU_ANALYZE_TIMEOUT:-270}
SECOND=$([ "$DEVICE" = cpu ] && echo cpu-again || echo "$DEVICE")     # the second analysis of each network
if [ "$SMOKE" = 1 ]; then
    HIDDEN=${RNNLENS_GPU_HIDDEN:-16}; EPOCHS=1
    CORPUS=(--option n_train=400 --option n_validation=100 --option n_test=100)
    AN_DEFAULT="--n-docs 60 --n-seeds 40 --n-linear-docs 20 --n-contexts 30 --n-eig-contexts 5 --n-boot 100"
else                    # 256 units and more: the CPU side of an analysis at the defaults takes many minutes
    HIDDEN=${RNNLENS_GPU_HIDDEN:-256}; EPOCHS=4
    CORPUS=(--option n_train=20000 --option n_validation=2000 --option n_test=2000)
    AN_DEFAULT="--n-docs 200 --n-seeds 100 --tol-sweep '' --n-transitions 5000 --n-linear-docs 100 \
--manifold-points 40 --n-contexts 50 --n-eig-contexts 10 --n-boot 200 --kclass-max-states 1000"
fi
eval "AN=(${RNNLENS_GPU_ANALYZE_OPTS-$AN_DEFAULT})"
WORK=$OUT/work
LOG=$OUT/gpu_check.txt
mkdir -p "$OUT" && rm -rf "$WORK" "$OUT/analysis" "$OUT"/compare-*.json && mkdir -p "$WORK" "$OUT/analysis" || exit 1
: > "$LOG"
export RNNLENS_CACHE_DIR=$WORK/cache    # nothing is downloaded: the synthetic corpus is generated
declare -a NAMES=() SECS=() RCS=() NETS=()

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

compare_analyses() {   # compare_analyses NAME CHECKPOINT: analyze on the CPU and on $DEVICE, then compare
    local name=$1 ck=$2
    local a="$OUT/analysis/$name-cpu" b="$OUT/analysis/$name-$SECOND"
    NETS+=("$name")
    step "analyze-$name-cpu" timeout "$ANALYZE_TIMEOUT" "$PY" scripts/rnnlens analyze "$ck" "${AN[@]}" --no-bow \
        --offline --device cpu -o "$a" --quiet
    step "analyze-$name-$SECOND" timeout "$ANALYZE_TIMEOUT" "$PY" scripts/rnnlens analyze "$ck" "${AN[@]}" \
        --no-bow --offline --device "$DEVICE" -o "$b" --quiet
    if [ "$DEVICE" = cpu ]; then     # both on the CPU: the numbers must be equal, bitwise
        step "compare-$name" "$PY" benchmarks/compare_analyses.py "$a" "$b"
    else
        step "compare-$name" "$PY" benchmarks/compare_analyses.py "$a" "$b" --tolerant \
            --json "$OUT/compare-$name.json"
    fi
}

step environment "$PY" -c "
import torch, platform
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda available', torch.cuda.is_available())
if torch.cuda.is_available(): print('device', torch.cuda.get_device_name(), 'capability', torch.cuda.get_device_capability())"
if [ ${#CHECKPOINTS[@]} -eq 0 ]; then
    for arch in gru lstm; do
        step "train-$arch" "$PY" scripts/rnnlens train --dataset synthetic "${CORPUS[@]}" --arch "$arch" \
            --hidden-size "$HIDDEN" --embed-dim 64 --epochs "$EPOCHS" --batch-size 128 --lr 2e-3 \
            --device "$DEVICE" --no-progress --no-resume --out "$WORK/$arch"
    done
    step evaluate-gru "$PY" scripts/rnnlens evaluate "$WORK/gru" --split test
    compare_analyses "gru$HIDDEN" "$WORK/gru"
    for arch in gru lstm; do
        step "trace-and-fixed-points-$arch-$DEVICE" "$PY" scripts/gpu_trace_check.py "$WORK/$arch" \
            --device "$DEVICE" --n-docs 300
        if [ "$DEVICE" != cpu ]; then
            step "trace-and-fixed-points-$arch-cpu" "$PY" scripts/gpu_trace_check.py "$WORK/$arch" --device cpu \
                --n-docs 300
        fi
    done
else
    for ck in "${CHECKPOINTS[@]}"; do
        compare_analyses "$(basename "$ck")" "$ck"
    done
fi

"$PY" - "$OUT" "$DEVICE" "$SECOND" "${NAMES[*]}" "${SECS[*]}" "${RCS[*]}" "${NETS[*]}" <<'EOF' | tee -a "$LOG"
import json, sys
from pathlib import Path
out, device, other, names, secs, rcs, nets = *sys.argv[1:4], *[a.split() for a in sys.argv[4:]]
out = Path(out)
rows = [{"step": n, "seconds": float(s), "exit": int(r)} for n, s, r in zip(names, secs, rcs)]
summary = {"device": device, "steps": rows, "failed": [r["step"] for r in rows if r["exit"] != 0], "networks": {}}
step_s = {r["step"]: r["seconds"] for r in rows}
for net in nets:
    entry = {}
    for side, folder in (("cpu", f"{net}-cpu"), ("device", f"{net}-{other}")):
        path = out / "analysis" / folder / "summary.json"
        if path.exists():
            s = json.loads(path.read_text())
            m = s["metrics"]
            entry[side] = {"seconds": step_s.get(f"analyze-{folder}"),
                           "device": s["provenance"].get("device"),
                           "section_seconds": s["provenance"]["section_seconds"],
                           "status": s["status"],
                           "key": {k: m.get(sec, {}).get(k, {}).get("value") for sec, k in (
                               ("data", "rnn_accuracy"), ("fixed_points", "n_converged"),
                               ("slow_manifold", "one_dimensionality"), ("slow_manifold", "median_abs_dev_lambda1"),
                               ("slow_manifold", "readout_alignment"), ("modes", "abs_lambda1_median"))}}
    if "cpu" in entry and "device" in entry and entry["device"]["seconds"]:
        entry["speedup"] = round(entry["cpu"]["seconds"] / entry["device"]["seconds"], 2)
    cmp = out / f"compare-{net}.json"
    if cmp.exists():
        diffs = json.loads(cmp.read_text())["differences"]
        entry["differences"] = len(diffs)
        entry["outside_tolerance"] = [d for d in diffs if not d["within"]]
        entry["largest_within"] = [d for d in diffs if d["within"]][:10]
    summary["networks"][net] = entry
(out / "gpu_check.json").write_text(json.dumps(summary, indent=1, default=str))
print("\n| step | seconds | exit |\n| --- | --- | --- |")
for r in rows:
    print(f"| {r['step']} | {r['seconds']:.1f} | {r['exit']} |")
for net, e in summary["networks"].items():
    print(f"{net}: analyze on cpu {e.get('cpu', {}).get('seconds')} s, on {device} {e.get('device', {}).get('seconds')}"
          f" s (speed-up {e.get('speedup')}); differences {e.get('differences', 0)}, outside the tolerance "
          f"{len(e.get('outside_tolerance', []))}")
    for side in ("cpu", "device"):
        if side in e:
            print(f"  {side}: {e[side]['key']}")
print("FAILED: " + ", ".join(summary["failed"]) if summary["failed"] else "every step ran and every comparison held")
sys.exit(1 if summary["failed"] else 0)
EOF
