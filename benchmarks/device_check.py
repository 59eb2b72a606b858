"""Parity and speed of the biLM on an accelerator (or any device), as two printed tables.

Parity: the reference fixtures (AllenNLP batch + single-sentence runs, the TensorFlow golden
batches in stateful mode) and batch invariance for every cell type, run on ``--device``, as max
absolute differences.  Speed: tokens/s of the published configs with random weights, per LSTM
path and precision, model only (char ids already on the device), median of ``--repeats``.

    python benchmarks/device_check.py --device cuda
    python benchmarks/device_check.py --device cpu --quick   # a smoke run of the script itself
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import h5py
import numpy as np
import torch

from elmo.config import CELL_TYPES
from elmo.io.convert import load_original
from elmo.nn.chars import batch_to_char_ids

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_bilm import build, sentences  # noqa: E402

from factories import BILM_TF_GOLDEN, ELMO_REFERENCE, random_sentences, tiny_model  # noqa: E402


def max_diff(a: torch.Tensor, b: np.ndarray) -> float:
    return float(np.abs(a.float().cpu().numpy() - b).max())


def parity_rows(device: str) -> list[tuple[str, float]]:
    rows = []
    model = load_original(ELMO_REFERENCE / "options.json", ELMO_REFERENCE / "weights.hdf5")
    model = model.to(device)
    batch = json.loads((ELMO_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
    expected = np.load(ELMO_REFERENCE / "expected.npz")
    with torch.inference_mode():
        layers = model(batch_to_char_ids(batch).to(device)).layers
        rows += [
            (f"AllenNLP batch layer_{k}", max_diff(layers[k], expected[f"layer_{k}"]))
            for k in range(3)
        ]
        single = max(
            max_diff(
                model(batch_to_char_ids([s]).to(device)).layers[k, 0],
                expected[f"single_layer_{k}"][i, : len(s)],
            )
            for i, s in enumerate(batch)
            for k in range(3)
        )
        rows.append(("AllenNLP single sentences, all layers", single))
    golden = load_original(BILM_TF_GOLDEN / "options.json", BILM_TF_GOLDEN / "lm_weights.hdf5").to(
        device
    )
    golden.stateful = True
    text = json.loads((BILM_TF_GOLDEN / "sentences.json").read_text(encoding="utf-8"))
    worst = 0.0
    with torch.inference_mode():
        for i in range(10):
            top = golden(
                batch_to_char_ids([text[k][i].split() for k in range(3)]).to(device)
            ).layers[-1]
            for row in range(3):
                with h5py.File(BILM_TF_GOLDEN / f"lm_embeddings_{row}.hdf5", "r") as handle:
                    both = handle[str(i)][...]
                ref = np.concatenate([both[0], both[1]], -1)
                worst = max(worst, max_diff(top[row, : len(ref)], ref))
    rows.append(("bilm-tf golden, 10 stateful batches, top layer", worst))
    for cell in CELL_TYPES:
        rows.append((f"batch invariance, {cell}", invariance(cell, device)))
    return rows


def invariance(cell: str, device: str) -> float:
    model = tiny_model(cell, seed=1).to(device)
    data = random_sentences(40, max_words=60, seed=2)
    data[7].append("ü" * 23)  # 46 bytes: batches holding it take the char-CNN's 50-slot path
    order = list(range(40))
    random.Random(3).shuffle(order)
    worst = 0.0
    with torch.inference_mode():
        alone = [model(batch_to_char_ids([s]).to(device)).layers[:, 0] for s in data]
        for start in range(0, 40, 13):
            chunk = order[start : start + 13]
            layers = model(batch_to_char_ids([data[i] for i in chunk]).to(device)).layers
            for row, i in enumerate(chunk):
                n = len(data[i])
                worst = max(worst, float((layers[:, row, :n] - alone[i]).abs().max()))
    return worst


def speed(name: str, clip: float | None, precision: str, batch: int, args) -> float:
    model = build(name, clip).to(args.device)
    data = sentences(max(batch, args.sentences), 20, seed=0)
    batches = [
        batch_to_char_ids(data[i : i + batch]).to(args.device) for i in range(0, len(data), batch)
    ]
    n_tokens = sum(len(s) for s in data)
    autocast = (
        torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16)
        if precision == "bf16"
        else nullcontext()
    )
    timings = []
    with torch.inference_mode(), autocast:
        model(batches[0])
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            for char_ids in batches:
                model(char_ids)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - start)
    return n_tokens / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device to check")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the median is shown")
    parser.add_argument("--sentences", type=int, default=4096, help="sentences per timed pass")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to test this script")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.repeats = 64, 1
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"device: {name}; torch {torch.__version__}\n")
    print("| parity check | max abs diff |\n| --- | ---: |")
    for label, diff in parity_rows(args.device):
        print(f"| {label} | {diff:.2e} |")
    print(
        "\n| config | LSTM path | precision | batch | tokens/s |\n| --- | --- | --- | ---: | ---: |"
    )
    configs = ["small"] if args.quick else ["small", "original"]
    batches = [32] if args.quick else [256, 1024]
    for config in configs:
        for clip, path in ((3.0, "loop, clipped"), (None, "fused, no clipping")):
            for precision in ("fp32", "bf16"):
                for batch in batches:
                    tps = speed(config, clip, precision, batch, args)
                    print(f"| {config} | {path} | {precision} | {batch} | {tps:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
