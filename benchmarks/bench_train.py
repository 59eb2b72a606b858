"""Training speed of the biLM: tokens/s of full optimizer steps, as a printed table.

Synthetic data with the shape of real training: sentences of 20 units plus boundaries from a
Zipf-distributed vocabulary, unit strings of 1-8 letters, the real batch assembly, objective,
backward, gradient clipping and AdamW.  Each row builds a model with random weights, runs
warm-up steps, then times ``--steps`` steps (median-free: one wall-clock span, synchronised).
On CUDA it also counts host syncs inside the timed steps (``torch.cuda.set_sync_debug_mode``).

    python benchmarks/bench_train.py --device cpu --configs tiny small          # CPU rows
    python benchmarks/bench_train.py --device cuda --configs small medium original   # < 5 min
    python benchmarks/bench_train.py --threads 1 --steps 3 --warmup 1 --before 92a8abb \
        --run-configs configs/enes-cpu.toml configs/enes-cpu-long.toml --lstm fused loop

With ``--run-configs`` each row is a training config as ``elmo train`` would run it (its model,
vocabulary size, batch and optimizer) on synthetic sentences, timed in CPU seconds as well as
wall time; ``--before`` adds the same rows for an earlier revision of the library, imported
in the same process (as ``benchmarks/bench_versions.py`` does).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from bench_versions import import_before

from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.machine import cpu_model
from elmo.nn.bilm import BiLM
from elmo.nn.chars import token_to_char_ids, used_slots
from elmo.tokenization import SentencePieceUnits
from elmo.training.config import OptimConfig
from elmo.training.corpus import CorpusStats
from elmo.training.data import EncodedCorpus, encode_corpus, plan_epoch
from elmo.training.objective import LanguageModelObjective
from elmo.training.optim import build_optimizer
from elmo.training.step import StepSettings, run_step

FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
OTHER_WARNINGS: set[str] = set()
CONFIGS = {  # name → (char filters, highway, LSTM cells H, projection D)
    "tiny": (((1, 16), (2, 16), (3, 32), (4, 32)), 1, 64, 32),
    "small": (FILTERS, 1, 1024, 128),
    "medium": (FILTERS, 1, 2048, 256),
    "original": (FILTERS, 2, 4096, 512),
}


def model_config(name: str, vocab: int, clip: float | None) -> ModelConfig:
    filters, highway, hidden, proj = CONFIGS[name]
    return ModelConfig(
        char_cnn=CharCNNConfig(embedding_dim=16, filters=filters, n_highway=highway),
        recurrent=RecurrentConfig(
            hidden_size=hidden, projection_size=proj, cell_clip=clip, proj_clip=clip
        ),
        vocab_size=vocab,
    )


def synthetic_data(vocab: int, sentences: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.minimum(rng.zipf(1.2, size=(sentences, 20)) + 2, vocab - 1).astype(np.int32)
    units = np.concatenate(
        [np.ones((sentences, 1), np.int32), ids, np.full((sentences, 1), 2, np.int32)], 1
    )
    starts = np.arange(sentences, dtype=np.int64) * 22
    corpus = EncodedCorpus(
        units.reshape(-1), starts, starts + 22, np.arange(sentences), CorpusStats()
    )
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    strings = ["<unk>", "<S>", "</S>"] + [
        "".join(rng.choice(letters, size=rng.integers(1, 9))) for _ in range(vocab - 3)
    ]
    table = torch.tensor([token_to_char_ids(s) for s in strings])
    unit_chars = used_slots(table).numpy()
    return corpus, table, unit_chars


def measure(name, clip, precision, batch, args, data) -> tuple[float, int]:
    device = torch.device(args.device)
    corpus, table, unit_chars = data
    torch.manual_seed(0)
    model = BiLM(model_config(name, args.vocab, clip)).to(device).train()
    objective = LanguageModelObjective(model, table.to(device))
    optimizer = build_optimizer(model, OptimConfig(lr=1e-3), device)
    plan = plan_epoch(corpus.lengths, batch * 22, 1, seed=0, epoch=0)
    settings = StepSettings(device, precision, 1.0, 1e-3)

    def step(k: int) -> None:
        (indices,) = plan[k % len(plan)]
        run_step(objective, optimizer, corpus, unit_chars, plan[k % len(plan)], [indices], settings)

    for k in range(args.warmup):
        step(k)
    syncs = 0
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(args.steps):
            step(args.warmup + k)
        if cuda:
            torch.cuda.set_sync_debug_mode("default")
            torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    OTHER_WARNINGS.update(
        str(w.message)[:160] for w in caught if "synchroniz" not in str(w.message)
    )
    tokens = sum(
        int(corpus.lengths[plan[(args.warmup + k) % len(plan)][0]].sum()) for k in range(args.steps)
    )
    return tokens / elapsed, syncs


def measure_run_config(
    package: str, path: str, lstm: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    """A training config's step on synthetic data of its vocabulary and batch size, with the
    library ``package`` (``elmo``, or an earlier version imported as ``elmo_before``) →
    (units per CPU-second, units per wall second, wall seconds a step)."""
    modules = {
        name: importlib.import_module(f"{package}.{name}")
        for name in ("bilm", "data", "objective", "optim", "train_config", "train_step")
    }
    config = modules["train_config"].load_train_config(path, [])
    if args.text:
        corpus, table, unit_chars = real_data(args, config.data.max_units)
        vocab = len(table)
    else:
        vocab = config.tokenizer.vocab_size
        corpus, table, unit_chars = synthetic_data(
            vocab, sentences=config.data.batch_tokens // 22 * (args.steps + args.warmup + 2)
        )
    data_module = modules["data"]
    fields = dataclasses.fields(data_module.EncodedCorpus)  # that version's own class
    corpus = data_module.EncodedCorpus(**{f.name: getattr(corpus, f.name) for f in fields})
    torch.manual_seed(0)
    model_config = dataclasses.replace(config.model, vocab_size=vocab)
    model = modules["bilm"].BiLM(model_config).train()
    model.recurrent.use_fused = lstm == "fused"
    objective = modules["objective"].LanguageModelObjective(model, table)
    optimizer = modules["optim"].build_optimizer(model, config.optim, torch.device("cpu"))
    plan = data_module.plan_epoch(corpus.lengths, config.data.batch_tokens, 1, seed=0, epoch=0)
    step_module = modules["train_step"]
    settings = step_module.StepSettings(torch.device("cpu"), "fp32", 1.0, config.optim.lr)

    def step(k: int) -> int:
        batches = plan[k % len(plan)]
        step_module.run_step(objective, optimizer, corpus, unit_chars, batches, batches, settings)
        return int(sum(corpus.lengths[b].sum() for b in batches))

    for k in range(args.warmup):
        step(k)
    cpu, wall = time.process_time(), time.perf_counter()
    units = sum(step(args.warmup + k) for k in range(args.steps))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return units / cpu, units / wall, wall / args.steps


def real_data(args: argparse.Namespace, max_units: int):
    """``--text`` cut into ``--tokenizer``'s units (cached in ``--cache``), as ``elmo train``
    reads it: the lengths, distinct units and padding of real batches."""
    units = SentencePieceUnits.load(args.tokenizer)
    corpus = encode_corpus(args.text, units, max_units, args.cache)
    table = units.unit_char_ids()
    return corpus, table, used_slots(table).numpy()


def run_configs(args: argparse.Namespace) -> None:
    """Rows for ``--run-configs``: each config, the earlier code first (as it trained, through
    PyTorch's LSTM kernel), then this tree through each LSTM path of ``--lstm``."""
    versions = [("elmo", "this tree")]
    if args.before:
        with_before = tempfile.mkdtemp()
        commit = import_before(args.before, Path(with_before))
        versions.insert(0, ("elmo_before", commit))
    data = (
        f"`{args.text}` in the units of `{args.tokenizer}`"
        if args.text
        else ("synthetic sentences of 22 units")
    )
    print(
        f"CPU ({cpu_model()}), {args.threads} thread(s); torch {torch.__version__}; {data}; "
        f"{args.steps} timed steps after {args.warmup}"
    )
    print("| code | config | LSTM (training) | units / CPU-s | units / s | s / step |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for package, label in versions:
        for path in args.run_configs:
            # the earlier code as it trained (PyTorch's LSTM kernel), this tree each way asked
            for lstm in args.lstm if package == "elmo" else ["fused"]:
                per_cpu, per_wall, step_s = measure_run_config(package, path, lstm, args)
                print(
                    f"| {label} | `{path}` | {lstm} | {per_cpu:,.0f} | {per_wall:,.0f} "
                    f"| {step_s:.2f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=list(CONFIGS))
    parser.add_argument(
        "--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"]
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[32], help="sentences per batch")
    parser.add_argument("--vocab", type=int, default=32000, help="softmax size")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--clipped", action="store_true", help="also time the clipped LSTM loop")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument(
        "--run-configs",
        nargs="+",
        metavar="TOML",
        help="instead: time these training configs (their sizes, vocabulary and batch)",
    )
    parser.add_argument(
        "--lstm",
        nargs="+",
        default=["fused"],
        choices=["fused", "loop"],
        help="with --run-configs: the LSTM path(s) to train through",
    )
    parser.add_argument("--before", help="with --run-configs: also time this git revision")
    parser.add_argument("--text", help="with --run-configs: train on this text, not synthetic")
    parser.add_argument(
        "--tokenizer", default="models/default/tokenizer.model", help="the units of --text"
    )
    parser.add_argument(
        "--cache", default=".cache/bench_train", help="where --text's encoding is kept"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.run_configs:
        run_configs(args)
        return
    data = synthetic_data(args.vocab, sentences=max(args.batch) * (args.steps + args.warmup + 2))
    device_name = (
        torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} threads"
    )
    print(f"{device_name}; torch {torch.__version__}; vocab {args.vocab}; 22 units per sentence")
    print(
        "| config | LSTM | precision | batch (sentences) | tokens/s | host syncs in timed steps |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for name in args.configs:
        for clip in [None, 3.0] if args.clipped else [None]:
            for precision in args.precisions:
                for batch in args.batch:
                    tps, syncs = measure(name, clip, precision, batch, args, data)
                    path = "clipped loop" if clip else "fused, no clip"
                    sync_text = str(syncs) if args.device == "cuda" else "n/a"
                    print(
                        f"| {name} | {path} | {precision} | {batch} | {tps:,.0f} | {sync_text} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
