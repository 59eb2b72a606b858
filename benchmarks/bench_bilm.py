"""Inference speed of the biLM on the published ELMo configurations, random weights.

The workload AllenNLP's figures in BENCHMARKS.md were measured on: 256 sentences × 20 random
lowercase words of 3-10 letters, batch 32, eval mode, no grad. Prints one table row per
configuration with the median of several repeats (these machines are shared and noisy; compare
rows of one run, not across runs).

    python benchmarks/bench_bilm.py --threads 2 --repeats 5 --configs small
    python benchmarks/bench_bilm.py --model models/default --batch-size 16 32 64
    python benchmarks/bench_bilm.py --threads 1 --clock cpu --no-kernel --batch-size 1 32

With ``--model`` a sentencepiece bundle reads the words cut into its units, as the Embedder
does; tokens/s still counts words.

``--cache`` times the layer-0 cache instead (``Embedder.embed_tokens``, with and without it):
on random words (fresh sentences every pass, so the cache holds nothing useful: what it costs)
and on prose (the cache warmed on *Moby-Dick* chapters 1-8, then timed on chapter 9, which it
has not seen: what real text gets).  Use ``--threads 1 --clock cpu`` on a shared machine.

    python benchmarks/bench_bilm.py --cache --threads 1 --clock cpu --configs small original
    python benchmarks/bench_bilm.py --cache --threads 1 --clock cpu --model models/default
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.inference.embedder import DEFAULT_TOKEN_CACHE, Embedder
from elmo.io.bundle import load_model, load_tokenizer
from elmo.nn.bilm import BiLM
from elmo.nn.chars import batch_to_char_ids
from elmo.tokenization import SentencePieceUnits, pre_tokenize

PROSE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"

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


def char_id_batches(
    data: list[list[str]], batch: int, units: SentencePieceUnits | None = None
) -> list[torch.Tensor]:
    """(B, T, 50) char ids of the sentences, ``batch`` at a time; with ``units`` the words are
    cut into the model's sentencepiece units first, as the Embedder does."""
    if units is None:
        return [batch_to_char_ids(data[i : i + batch]) for i in range(0, len(data), batch)]
    table = units.unit_char_ids()  # (V, 50)
    rows = [table[[i for word in units.encode_words(s) for i in word]] for s in data]
    return [pad_sequence(rows[i : i + batch], batch_first=True) for i in range(0, len(rows), batch)]


def tokens_per_second(
    model: BiLM,
    data: list[list[str]],
    batch: int,
    repeats: int,
    kernel: bool = False,
    units: SentencePieceUnits | None = None,
    clock: str = "wall",
) -> float:
    """Words per second.  ``kernel``: run PyTorch's fused RNN kernel, which the library uses
    only with gradients on a CPU (gradients stay off here: no parameter requires one).
    ``clock``: ``wall`` or ``cpu`` (this process's CPU time: steadier on a shared machine)."""
    batches = char_id_batches(data, batch, units)
    n_tokens = sum(len(s) for s in data)
    timer = time.perf_counter if clock == "wall" else time.process_time
    timings = []
    model.requires_grad_(False)
    with torch.enable_grad() if kernel else torch.inference_mode():
        model(batches[0])  # warm-up
        for _ in range(repeats):
            start = timer()
            for char_ids in batches:
                model(char_ids)
            timings.append(timer() - start)
    return n_tokens / statistics.median(timings)


def prose(path: Path, words: int) -> list[list[str]]:
    """The file's paragraphs split into words and punctuation, cut into sentences of at most
    ``words`` words (a stand-in for sentence splitting, which the fixture does not need)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = [w.text for w in pre_tokenize(line)]
        out += [tokens[i : i + words] for i in range(0, len(tokens), words)]
    return [s for s in out if s]


def cache_rows(
    label: str,
    model: BiLM,
    units: SentencePieceUnits | None,
    args: argparse.Namespace,
) -> None:
    """Words per second through ``Embedder.embed_tokens``, the cache off and on, on random
    words and on prose; with the hit rate of the timed passes."""
    timer = time.perf_counter if args.clock == "wall" else time.process_time
    warm_text = prose(PROSE / "train.txt", args.words)
    timed_text = prose(PROSE / "valid.txt", args.words)
    for text in ("random words", "prose"):
        for size in (0, DEFAULT_TOKEN_CACHE):
            embedder = Embedder(model, args.batch_size[0], units=units, token_cache=size)
            embedder.embed_tokens(sentences(4, args.words, seed=99))  # first-call costs
            timings, hits, looked_up, words = [], 0, 0, 0
            for repeat in range(args.repeats):
                if embedder.token_cache is not None:
                    embedder.token_cache.clear()
                if text == "prose":
                    embedder.embed_tokens(warm_text)  # untimed: what a server has seen
                    data = timed_text
                else:
                    data = sentences(args.sentences, args.words, seed=1000 + repeat)
                cache = embedder.token_cache
                before = cache.stats() if cache is not None else None
                start = timer()
                embedder.embed_tokens(data)
                timings.append(timer() - start)
                words = sum(len(s) for s in data)
                if embedder.token_cache is not None and before is not None:
                    after = embedder.token_cache.stats()
                    hits += after.hits - before.hits
                    looked_up += after.hits + after.misses - before.hits - before.misses
            rate = f"{100 * hits / looked_up:.0f} %" if looked_up else "-"
            speed = words / statistics.median(timings)
            state = f"on ({size:,} units)" if size else "off"
            print(f"| {label} | {text} | {state} | {speed:,.0f} | {rate} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small"], choices=sorted(CONFIGS))
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the median is shown")
    parser.add_argument("--sentences", type=int, default=256, help="number of sentences")
    parser.add_argument("--words", type=int, default=20, help="words per sentence")
    parser.add_argument(
        "--batch-size", type=int, nargs="+", default=[32], help="sentences per batch"
    )
    parser.add_argument("--model", help="a bundle (e.g. models/default) instead of --configs")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="wall time or process CPU time"
    )
    parser.add_argument(
        "--no-kernel", action="store_true", help="only the library's path, not PyTorch's kernel"
    )
    parser.add_argument(
        "--cache", action="store_true", help="the layer-0 cache off and on (see the docstring)"
    )
    args = parser.parse_args()
    kernels = (False,) if args.no_kernel else (False, True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = sentences(args.sentences, args.words, seed=0)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.sentences} sentences × "
        f"{args.words} words, median of {args.repeats}, {args.clock} clock"
    )
    if args.cache:
        print(f"batch {args.batch_size[0]}; hit rate: distinct units of each forward pass")
        print("| model | text | layer-0 cache | words/s | hit rate |")
        print("| --- | --- | --- | ---: | ---: |")
        if args.model:
            model, units = load_model(args.model).eval(), load_tokenizer(args.model)
            cache_rows(args.model, model, units, args)
        for name in [] if args.model else args.configs:
            cache_rows(name, build(name, None), None, args)
        return
    print("| model | LSTM path | batch | tokens/s |")
    print("| --- | --- | ---: | ---: |")
    if args.model:
        model, units = load_model(args.model).eval(), load_tokenizer(args.model)
        for batch in args.batch_size:
            for kernel in kernels:
                path = "PyTorch's fused kernel" if kernel else "loop (the library's CPU path)"
                speed = tokens_per_second(
                    model, data, batch, args.repeats, kernel, units, args.clock
                )
                print(f"| {args.model} | {path} | {batch} | {speed:,.0f} |", flush=True)
        return
    for name in args.configs:
        for clip, kernel, path in (
            (3.0, False, "loop, clipped (as published)"),
            (None, False, "loop, no clipping (the library's CPU path)"),
            (None, True, "PyTorch's fused kernel, no clipping"),
        ):
            if kernel and args.no_kernel:
                continue
            model = build(name, clip)
            for batch in args.batch_size:
                speed = tokens_per_second(
                    model, data, batch, args.repeats, kernel, clock=args.clock
                )
                print(f"| {name} | {path} | {batch} | {speed:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
