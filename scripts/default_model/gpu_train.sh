#!/usr/bin/env bash
# Train the default model on the GPU machine (device tool), from the repository root, with the
# job prepared here by prepare_gpu_job.py carried along (build/ is git-ignored):
#   run(command="bash scripts/default_model/gpu_train.sh", carry=["build/gpu_job"], timeout_s=600)
# The machine's python3 has PyTorch, sentencepiece and safetensors; the repository is used from
# source (PYTHONPATH), nothing is installed or fetched.  Training stops at the config's
# run.max_time_s (480 s by default: the command limit is 600 s, start-up and packing included);
# what comes back under $OUT: the float16 bundle in <= 15 MiB parts, metrics, the log.
set -euo pipefail
JOB=${JOB:-build/gpu_job}
OUT=${OUT:?set by the device tool}
MAX_TIME=${MAX_TIME:-}
work=/tmp/elmo_gpu_job
rm -rf "$work" && mkdir -p "$work" "$OUT"
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
