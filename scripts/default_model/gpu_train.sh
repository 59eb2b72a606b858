#!/usr/bin/env bash
# Train the default model on a GPU machine, from the repository root, with the job that
# prepare_gpu_job.py made (JOB, default build/gpu_job; build/ is git-ignored) beside it.  The
# machine's python3 needs PyTorch, sentencepiece and safetensors; the repository is used from
# source (PYTHONPATH), nothing is installed or fetched.  Training stops at the config's
# run.max_time_s (MAX_TIME overrides it); OUT receives the float16 bundle in <= 15 MiB parts,
# the metrics and the log (scripts/default_model/unpack_run.py joins them again).
set -euo pipefail
JOB=${JOB:-build/gpu_job}
OUT=${OUT:?the directory for the results}
MAX_TIME=${MAX_TIME:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no GPU"; } | tee "$OUT/gpu.txt"
tar -xJf "$JOB/train.enc.tar.xz" -C "$work"
tar -xJf "$JOB/valid.enc.tar.xz" -C "$work"
extra=()
if [ -n "$MAX_TIME" ]; then extra+=(--max-time "$MAX_TIME"); fi
set -o pipefail
python3 -m elmo.cli train --train "$work/train" --valid "$work/valid" --output "$work/run" \
  --config "$JOB/config.toml" --set "tokenizer.model=\"$PWD/$JOB/tokenizer.model\"" \
  "${extra[@]}" 2>&1 | tr '\r' '\n' | grep -v '^ *[0-9]*%|' | tee "$OUT/train.log"
python3 scripts/default_model/pack_run.py "$work/run" "$OUT"
