"""Inference speed of the biLM on the published ELMo configurations, random weights.

The workload of DESIGN §6: 256 sentences × 20 random lowercase words of 3-10 letters, batch 32,
eval mode, no grad.  Prints one table row per configuration with the median of several repeats
(these machines are shared and noisy; compare rows of one run, not across runs).

    python benchmarks/bench_bilm.py --threads 2 --repeats 5 --configs small
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time

import torch

from elmo.bilm import BiLM
from elmo.chars import batch_to_char_ids
from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig

FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
# Published bilm-tf configurations: name → (LSTM cells H, projection D, highway layers)
CONFIGS = {
    "small": (1024, 128, 1),  # 2x1024_128_2048cnn_1xhighway
    "medium": (2048, 256, 1),  # 2x2048_256_2048cnn_1xhighway
    "original": (4096, 512, 2),  # 2x4096_512_2048cnn_2xhighway
}


def build(name: str, cell_clip: float | None) -> BiLM:
    hidden, proj, highway = CONFIGS[name]
    config = ModelConfig(
        char_cnn=CharCNNConfig(embedding_dim=16, filters=FILTERS, n_highway=highway),
        recurrent=RecurrentConfig(
            hidden_size=hidden, projection_size=proj, cell_clip=cell_clip, proj_clip=cell_clip
        ),
    )
    return BiLM(config).eval()


def sentences(count: int, words: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(words)]
        for _ in range(count)
    ]


def tokens_per_second(
    model: BiLM, data: list[list[str]], batch: int, repeats: int, kernel: bool = False
) -> float:
    """``kernel``: run PyTorch's fused RNN kernel, which the library uses only with gradients
    on a CPU (gradients stay off here: no parameter requires one)."""
    batches = [batch_to_char_ids(data[i : i + batch]) for i in range(0, len(data), batch)]
    n_tokens = sum(len(s) for s in data)
    timings = []
    model.requires_grad_(False)
    with torch.enable_grad() if kernel else torch.inference_mode():
        model(batches[0])  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for char_ids in batches:
                model(char_ids)
            timings.append(time.perf_counter() - start)
    return n_tokens / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small"], choices=sorted(CONFIGS))
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the median is shown")
    parser.add_argument("--sentences", type=int, default=256, help="number of sentences")
    parser.add_argument("--words", type=int, default=20, help="words per sentence")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = sentences(args.sentences, args.words, seed=0)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.sentences} sentences × "
        f"{args.words} words, batch {args.batch_size}, median of {args.repeats}"
    )
    print("| config | LSTM path | tokens/s |")
    print("| --- | --- | ---: |")
    for name in args.configs:
        for clip, kernel, path in (
            (3.0, False, "loop, clipped (as published)"),
            (None, False, "loop, no clipping (the library's CPU path)"),
            (None, True, "PyTorch's fused kernel, no clipping"),
        ):
            model = build(name, clip)
            speed = tokens_per_second(model, data, args.batch_size, args.repeats, kernel)
            print(f"| {name} | {path} | {speed:,.0f} |")


if __name__ == "__main__":
    main()
