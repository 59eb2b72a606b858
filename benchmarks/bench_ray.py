"""What the Ray engine costs on one machine: one local Ray worker against ``elmo embed`` in
process, on the same input, one thread each (OMP_NUM_THREADS=1), medians of a few passes.

The input is the reference fixture's sentences repeated to ``--lines`` lines.  Both columns are
end to end (model load, embedding, writing: NPZ in process, Parquet shards with Ray); the Ray
row also gives its fixed cost (a 1-line input: actor start, model load, Ray Data's scheduling)
and its rate once that is paid, which is what a large corpus sees.  A second core may be busy
with a training run on these shared machines: compare rows of one run, not across runs.

    python benchmarks/bench_ray.py --model models/default --lines 500 --repeats 3
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch: its thread pool reads it once

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from elmo.inference.embedder import Embedder
from elmo.inference.extract import extract
from elmo.inference.ray_extract import extract_ray

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "elmo_reference"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-lines", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import ray

    sentences = json.loads((REFERENCE / "sentences.json").read_text(encoding="utf-8"))
    lines = [" ".join(sentences[i % len(sentences)]) for i in range(args.lines)]
    tokens = sum(len(line.split()) for line in lines)
    work = Path(tempfile.mkdtemp(prefix="bench_ray"))
    source, one = work / "in.txt", work / "one.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one.write_text(lines[0] + "\n", encoding="utf-8")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    local, remote, fixed = [], [], []
    try:
        for _ in range(args.repeats):
            start = time.perf_counter()
            embedder = Embedder.from_pretrained(args.model)
            extract(embedder, source, work / "out.npz", "all", force=True, progress=False)
            local.append(time.perf_counter() - start)
            for path, times in ((source, remote), (one, fixed)):
                shutil.rmtree(work / "out", ignore_errors=True)
                start = time.perf_counter()
                extract_ray(
                    str(path),
                    work / "out",
                    args.model,
                    "all",
                    progress=False,
                    shard_lines=args.shard_lines,
                    num_workers=1,
                )
                times.append(time.perf_counter() - start)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    t_local, t_ray, t_fixed = map(statistics.median, (local, remote, fixed))
    print(f"{args.lines} lines, {tokens} tokens, {args.model}, 1 thread, median of {args.repeats}")
    print("| engine | seconds | tokens/s |")
    print("| --- | ---: | ---: |")
    print(f"| elmo embed (in process) | {t_local:.2f} | {tokens / t_local:,.0f} |")
    print(f"| --engine ray, 1 worker | {t_ray:.2f} | {tokens / t_ray:,.0f} |")
    print(f"| --engine ray, fixed cost (1 line) | {t_fixed:.2f} | |")
    steady = tokens / max(t_ray - t_fixed, 1e-9)
    print(f"| --engine ray, past the fixed cost | {t_ray - t_fixed:.2f} | {steady:,.0f} |")


if __name__ == "__main__":
    main()
