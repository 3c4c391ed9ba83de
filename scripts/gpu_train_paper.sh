#!/usr/bin/env bash
# Train the paper's IMDB networks (Maheswaranathan et al. 2019: embedding 128, 256 units, Adam(W) with
# exponential learning-rate decay, model chosen on validation) for all four architectures, concurrently
# on one CUDA GPU, within about 7 minutes, and pack each finished checkpoint into one tar file.
#
# Run from the repository root (rnnlens need not be installed; it runs from src/ with PYTHONPATH):
#
#     bash scripts/gpu_train_paper.sh
#
# Needs: python3 with torch (CUDA), numpy, scipy, scikit-learn, safetensors, click, tqdm; and
# .gpu/aclImdb-reviews.tar.xz, the 50,000 labelled IMDB reviews only (aclImdb/{train,test}/{pos,neg}/*.txt,
# 18 MB; git-ignored). Make it from the official archive with:
#     mkdir -p .gpu /tmp/x && tar xzf aclImdb_v1.tar.gz -C /tmp/x --wildcards 'aclImdb/t*/pos/*.txt' 'aclImdb/t*/neg/*.txt'
#     tar -C /tmp/x --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - aclImdb | xz -9e -T0 > .gpu/aclImdb-reviews.tar.xz
# It reads to the same corpus fingerprint as the official archive (79cba29f8e3c...), so the
# checkpoints record the real IMDB.
#
# Produces in $OUT (default $TMPDIR/rnnlens-gpu-out; the device tool sets $OUT):
#     imdb-vanilla.tar imdb-ugrnn.tar imdb-gru.tar imdb-lstm.tar   one checkpoint folder each
#         (imdb-<arch>/config.json + model.safetensors, ~10.5 MB); the vanilla RNN is the best of three
#         variants on validation accuracy (the others are only reported in the log)
#     train_log.txt      every process's output (progress bars left out), then a summary: test and
#                        validation accuracy, best epoch, wall time and the exact `rnnlens train` command
#     full_logs.tar.xz   the unfiltered per-process logs
# Each training has a hard time limit ($RNNLENS_GPU_TIMEOUT s, default 330). A run stopped by it is
# finalized from its resume state (weights of the best validation epoch so far, scripts/gpu_finalize.py),
# evaluated on test and packed like the others; its config.json says `finalized_from_resume`.
#
# Environment: OUT, PYTHON (default python3), RNNLENS_GPU_DEVICE (default cuda),
# RNNLENS_GPU_ARCHIVE (default .gpu/aclImdb-reviews.tar.xz), RNNLENS_GPU_WORK (scratch, default
# $TMPDIR/rnnlens-gpu-work), RNNLENS_GPU_TIMEOUT, RNNLENS_GPU_SMOKE=1 (a CPU smoke test: 100 reviews per
# folder, tiny networks, 2 epochs, device cpu, one vanilla variant made to hit the time limit).
#
# Unpack and check here:  tar xf imdb-gru.tar -C runs/ && rnnlens evaluate runs/imdb-gru --data-dir ../shared/data

set -uo pipefail
export PYTHONUNBUFFERED=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
SMOKE=${RNNLENS_GPU_SMOKE:-0}
PY=${PYTHON:-python3}
OUT=${OUT:-${TMPDIR:-/tmp}/rnnlens-gpu-out}
ARCHIVE=${RNNLENS_GPU_ARCHIVE:-$ROOT/.gpu/aclImdb-reviews.tar.xz}
WORK=${RNNLENS_GPU_WORK:-${TMPDIR:-/tmp}/rnnlens-gpu-work}
if [ "$SMOKE" = 1 ]; then
    DEVICE=${RNNLENS_GPU_DEVICE:-cpu}; TRAIN_TIMEOUT=${RNNLENS_GPU_TIMEOUT:-200}; FINAL_TIMEOUT=120
else
    DEVICE=${RNNLENS_GPU_DEVICE:-cuda}; TRAIN_TIMEOUT=${RNNLENS_GPU_TIMEOUT:-330}; FINAL_TIMEOUT=60
fi
DATA=$WORK/data
LOG=$OUT/train_log.txt
T0=$(date +%s)

mkdir -p "$OUT" && rm -rf "$WORK" && mkdir -p "$WORK/runs" "$WORK/logs" "$WORK/status" "$DATA" "$WORK/cache" || exit 1
: > "$LOG"
# Only our extracted folder may be found (no other archive, no download attempt into a cache).
unset RNNLENS_DATA_DIR
export RNNLENS_CACHE_DIR=$WORK/cache

say() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }

say "gpu_train_paper.sh: root $ROOT, out $OUT, device $DEVICE, smoke $SMOKE, time limit per training ${TRAIN_TIMEOUT}s"
"$PY" - <<'EOF' 2>&1 | tee -a "$LOG"
import platform, torch
print(f"python {platform.python_version()}, torch {torch.__version__}, cuda available {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}, cudnn {torch.backends.cudnn.version()}" if torch.cuda.is_available() else ""))
EOF
if [ "$DEVICE" != cpu ] && ! "$PY" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    say "error: device $DEVICE asked for but torch sees no CUDA device; stopping"; exit 1
fi

# ---- data: the 50,000 labelled reviews, extracted (a few seconds)
if [ ! -f "$ARCHIVE" ]; then say "error: $ARCHIVE not found (see the top of this script)"; exit 1; fi
t=$(date +%s.%N)
if command -v xz >/dev/null; then
    xz -dc -T0 "$ARCHIVE" | tar xf - -C "$DATA"
else  # no xz binary: Python's tarfile reads .tar.xz too
    "$PY" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')" "$ARCHIVE" "$DATA"
fi
if [ $? -ne 0 ] || [ ! -d "$DATA/aclImdb/test/pos" ]; then say "error: extracting $ARCHIVE failed"; exit 1; fi
if [ "$SMOKE" = 1 ]; then  # keep the first 100 reviews of each folder
    for d in "$DATA"/aclImdb/{train,test}/{pos,neg}; do
        find "$d" -name '*.txt' | sort | tail -n +101 | xargs -r rm -f
    done
fi
say "extracted $(find "$DATA/aclImdb" -name '*.txt' | wc -l) reviews in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

# ---- the runs: name, then the `rnnlens train` options
COMMON=(--dataset imdb --data-dir "$DATA" --embed-dim 128 --hidden-size 256 --vocab-size 20000 --seed 0
        --device "$DEVICE" --num-threads 2)
declare -A RUN
RUN[gru]="--arch gru --batch-size 64 --lr 2e-3 --lr-decay 0.7 --epochs 6 --patience 2 --clip-norm 5"
RUN[lstm]="--arch lstm --batch-size 64 --lr 2e-3 --lr-decay 0.8 --epochs 8 --patience 2 --clip-norm 5"
RUN[ugrnn]="--arch ugrnn --batch-size 128 --lr 3e-3 --lr-decay 0.8 --epochs 8 --patience 2 --clip-norm 5"
RUN[vanilla-a]="--arch vanilla --batch-size 64 --lr 1e-3 --lr-decay 0.93 --epochs 30 --patience 6 --clip-norm 1"
RUN[vanilla-b]="--arch vanilla --batch-size 32 --lr 5e-4 --lr-decay 0.95 --epochs 30 --patience 6 --clip-norm 0.5"
RUN[vanilla-c]="--arch vanilla --batch-size 32 --lr 1e-3 --lr-decay 0.9 --epochs 30 --patience 6 --clip-norm 1"
NAMES=(ugrnn lstm gru vanilla-a vanilla-b vanilla-c)
SMOKE_ARGS=()
if [ "$SMOKE" = 1 ]; then
    SMOKE_ARGS=(--embed-dim 8 --hidden-size 16 --vocab-size 3000 --epochs 2 --num-threads 1)
fi

run_one() {  # name: train (time-limited), then finalize from the resume state if it was stopped
    local name=$1 dir=$WORK/runs/imdb-$1 start rc frc
    # shellcheck disable=SC2206
    local args=(${RUN[$name]} "${COMMON[@]}" "${SMOKE_ARGS[@]}")
    if [ "$SMOKE" = 1 ] && [ "$name" = vanilla-c ]; then args+=(--epochs 100000 --patience 0); fi
    local cmd=(rnnlens train "${args[@]}" --out "$dir")
    printf '%q ' "${cmd[@]}" > "$WORK/status/$name.cmd"
    say "[$name] start: ${cmd[*]}"
    start=$(date +%s)
    timeout -k 10 "$TRAIN_TIMEOUT" "$PY" scripts/rnnlens train "${args[@]}" --out "$dir" 2>&1 \
        | tee "$WORK/logs/$name.log" | tr '\r' '\n' | grep --line-buffered -v -E '[0-9]+/[0-9]+ \[|^\s*$' \
        | sed -u "s/^/[$name] /" | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    echo "$(( $(date +%s) - start ))" > "$WORK/status/$name.seconds"
    echo "$rc" > "$WORK/status/$name.rc"
    if [ "$rc" -ne 0 ]; then
        say "[$name] training exited with status $rc (124: time limit) after $(cat "$WORK/status/$name.seconds") s; finalizing the best epoch so far"
        timeout -k 5 "$FINAL_TIMEOUT" "$PY" scripts/gpu_finalize.py "$dir" --data-dir "$DATA" --device "$DEVICE" \
            --command "$(cat "$WORK/status/$name.cmd")" \
            --reason "rnnlens train exited with status $rc (124: stopped at the ${TRAIN_TIMEOUT}s time limit)" 2>&1 \
            | sed -u "s/^/[$name finalize] /" | tee -a "$LOG"
        frc=${PIPESTATUS[0]}
        echo "$frc" > "$WORK/status/$name.finalize_rc"
        echo "$(( $(date +%s) - start ))" > "$WORK/status/$name.seconds"
    fi
    say "[$name] done ($(cat "$WORK/status/$name.seconds") s)"
}

for name in "${NAMES[@]}"; do
    run_one "$name" &
done
wait
say "all trainings ended"

# ---- summary and packing
"$PY" - "$WORK" "$OUT" <<'EOF' 2>&1 | tee -a "$LOG"
import json, os, subprocess, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
LIMIT = 16 * 2**20
rows = []
for cmd_file in sorted((work / "status").glob("*.cmd")):
    name = cmd_file.stem
    d = work / "runs" / f"imdb-{name}"
    sec = (work / "status" / f"{name}.seconds")
    row = {"name": name, "dir": d, "cmd": cmd_file.read_text().strip(),
           "seconds": int(sec.read_text()) if sec.exists() else None, "ok": False}
    try:
        rec = json.loads((d / "config.json").read_text())["record"]
        m = rec["metrics"]
        row.update(ok=(d / "model.safetensors").exists(), arch=rec["settings"]["arch"],
                   val=m["validation"]["accuracy"], test=(m.get("test") or {}).get("accuracy"),
                   best=m["best_epoch"], run=m["epochs_run"], tps=m.get("train_tokens_per_s"),
                   finalized="finalized_from_resume" in rec, fingerprint=rec["data_fingerprint"])
    except (OSError, KeyError, ValueError, TypeError) as e:
        row["error"] = f"no checkpoint ({type(e).__name__}: {e})"
    rows.append(row)
print("\n==== summary (accuracy = fraction of documents classified correctly) ====")
for r in rows:
    if r["ok"]:
        test = f"{r['test']:.4f}" if r["test"] is not None else "-"
        print(f"{r['name']:10s} test {test}  validation {r['val']:.4f}  best epoch {r['best']} of {r['run']} run"
              f"{'  (stopped by the time limit; best-so-far finalized)' if r['finalized'] else ''}  "
              f"wall {r['seconds']} s  train tokens/s {r['tps'] or 0:.0f}")
    else:
        print(f"{r['name']:10s} FAILED: {r.get('error')}  wall {r['seconds']} s")
    print(f"    command: {r['cmd']}")
ok = [r for r in rows if r["ok"]]
if ok:
    print(f"data fingerprint: {ok[0]['fingerprint']}")
chosen = {}
for r in ok:
    if r["arch"] not in chosen or r["val"] > chosen[r["arch"]]["val"]:
        chosen[r["arch"]] = r
for arch, r in sorted(chosen.items()):
    tar = out / f"imdb-{arch}.tar"
    src = r["dir"].name
    subprocess.run(["tar", "cf", str(tar), "-C", str(r["dir"].parent), f"--transform=s,^{src},imdb-{arch},",
                    f"{src}/config.json", f"{src}/model.safetensors"], check=True)
    size = tar.stat().st_size
    why = f" (best {arch} on validation among {[x['name'] for x in ok if x['arch'] == arch]})" if r["name"] != arch else ""
    print(f"packed {tar.name}: {size / 2**20:.2f} MiB from {r['name']}{why}"
          + ("  WARNING: over 16 MiB, it will not come back" if size > LIMIT else ""))
missing = sorted({"vanilla", "ugrnn", "gru", "lstm"} - set(chosen))
if missing:
    print(f"NOT packed (no checkpoint): {missing}")
EOF
tar -C "$WORK" -cJf "$OUT/full_logs.tar.xz" logs status 2>/dev/null
say "finished in $(( $(date +%s) - T0 )) s; files in $OUT:"
ls -l "$OUT" | tee -a "$LOG"
