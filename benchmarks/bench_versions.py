"""Feature extraction speed of the working tree against an earlier commit, in one process.

These machines are shared: another job's load moves a run's speed by tens of percent within
minutes, more than most changes are worth.  So both versions run in the same process, one pass
each in turn, on the same weights and inputs, and each pair of passes gives a ratio; the table
shows the median words per CPU-second of each and the median ratio (with its quartiles).

    python benchmarks/bench_versions.py --before HEAD~3
    python benchmarks/bench_versions.py --before 0bbcd12 --batch-size 1 32 --configs small

The earlier version is read out of git (``git archive``) into a temporary directory and
imported as the package ``elmo_before``.  ``default`` is ``models/default``, its words cut into
its units as the Embedder does; ``small`` is the published "small" configuration with random
weights, unclipped (the library's LSTM path) and clipped (as published); ``original`` is the
published 2x4096_512_2048cnn_2xhighway configuration, clipped at 3.0 as published, random
weights.  ``original`` is not in the default list: it runs at a few hundred words per
CPU-second, so a pass of 64 sentences takes seconds; name it with fewer pairs and batches:

    python benchmarks/bench_versions.py --before HEAD~3 --configs original --batch-size 32 \
        --pairs 5
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
from bench_bilm import CONFIGS, FILTERS, char_id_batches, sentences

from elmo.io.bundle import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def import_before(revision: str, into: Path) -> str:
    """Unpack ``elmo/`` of ``revision`` as the package ``elmo_before`` under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "elmo"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "elmo").rename(into / "elmo_before")
    for path in (into / "elmo_before").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\b(from|import) elmo\b", r"\1 elmo_before", text), "utf-8")
    sys.path.insert(0, str(into))
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return commit


def part(package: str, *paths: str) -> ModuleType:
    """The first of ``paths`` that the version has (its modules moved into subpackages)."""
    for path in paths[:-1]:
        with contextlib.suppress(ModuleNotFoundError):
            return importlib.import_module(f"{package}.{path}")
    return importlib.import_module(f"{package}.{paths[-1]}")


def published(package: str, name: str, clip: float | None) -> torch.nn.Module:
    """The published configuration ``name`` (``bench_bilm.CONFIGS``) built by the version
    ``package``, random weights (the caller copies one version's into the other)."""
    hidden, proj, highway = CONFIGS[name]
    config = importlib.import_module(f"{package}.config")
    bilm = part(package, "nn.bilm", "bilm")
    model_config = config.ModelConfig(
        char_cnn=config.CharCNNConfig(embedding_dim=16, filters=FILTERS, n_highway=highway),
        recurrent=config.RecurrentConfig(
            hidden_size=hidden, projection_size=proj, cell_clip=clip, proj_clip=clip
        ),
    )
    torch.manual_seed(0)
    return bilm.BiLM(model_config).eval()


def load_before(bundle: ModuleType, path: Path) -> torch.nn.Module:
    """The bundle at ``path`` in an earlier version, which may reject config keys added since
    (``training``, the run's totals): those describe the run, not the network, so a copy of
    the bundle without them gives the earlier version the same weights."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copytree(path, copy)
        config = json.loads((copy / "config.json").read_text())
        config.pop("training", None)
        (copy / "config.json").write_text(json.dumps(config))
        return bundle.load_model(copy).eval()


def models(name: str) -> list[tuple[str, torch.nn.Module, torch.nn.Module]]:
    """``(label, before, after)`` with the same weights."""
    if name == "default":
        before = part("elmo_before", "io.bundle", "bundle")
        after = part("elmo", "io.bundle", "bundle")
        path = ROOT / "models" / "default"
        return [("models/default", load_before(before, path), after.load_model(path).eval())]
    # "original" clipped only, as published (the speed its acceptance is stated in); it is slow
    clips = ((3.0, "clipped"),) if name == "original" else ((None, "unclipped"), (3.0, "clipped"))
    pairs = []
    for clip, how in clips:
        new = published("elmo", name, clip)
        old = published("elmo_before", name, clip)
        old.load_state_dict(new.state_dict())
        pairs.append((f"{name}, {how}", old, new))
    return pairs


def embedder_scope(package: str) -> Callable[[], contextlib.AbstractContextManager]:
    """What the version's Embedder runs its forward passes in, besides inference mode (from
    ``tiles.kept_copies``, where the version has it)."""
    try:
        tiles = part(package, "nn.tiles", "tiles")
    except ModuleNotFoundError:  # versions before the tiles
        return contextlib.nullcontext
    return getattr(tiles, "kept_copies", contextlib.nullcontext)


def compare(
    before: torch.nn.Module, after: torch.nn.Module, batches: list[torch.Tensor], pairs: int
) -> tuple[float, float, list[float]]:
    """Median seconds of a pass of each, and the ratios before / after of each pair."""

    def run(model: torch.nn.Module) -> float:
        package = type(model).__module__.split(".")[0]
        with embedder_scope(package)():
            start = time.process_time()
            for char_ids in batches:
                model(char_ids)
            return time.process_time() - start

    with torch.inference_mode():
        run(before), run(after)  # warm-up
        times = [(run(before), run(after)) for _ in range(pairs)]
    return (
        statistics.median(t[0] for t in times),
        statistics.median(t[1] for t in times),
        [a / b for a, b in times],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the git revision to compare against")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["default", "small"],
        choices=["default", "small", "original"],
        help="models/default and published configurations (original: slow, name it alone)",
    )
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--sentences", type=int, default=64, help="sentences a pass")
    parser.add_argument("--words", type=int, default=20, help="words a sentence")
    parser.add_argument("--pairs", type=int, default=9, help="passes of each version")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        commit = import_before(args.before, Path(tmp))
        print(
            f"before: {commit}, after: the working tree; torch {torch.__version__}, "
            f"{args.threads} thread(s), {args.sentences} sentences x {args.words} words a pass, "
            f"{args.pairs} pairs of passes, CPU time"
        )
        print("| model | batch | before words/CPU-s | after words/CPU-s | after / before (IQR) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        data = sentences(args.sentences, args.words, seed=0)
        words = sum(len(s) for s in data)
        for name in args.configs:
            units = load_tokenizer(ROOT / "models" / "default") if name == "default" else None
            for label, old, new in models(name):
                for batch in args.batch_size:
                    batches = char_id_batches(data, batch, units)
                    t_old, t_new, ratios = compare(old, new, batches, args.pairs)
                    q = statistics.quantiles(ratios, n=4)
                    print(
                        f"| {label} | {batch} | {words / t_old:,.0f} | {words / t_new:,.0f} | "
                        f"{statistics.median(ratios):.2f} ({q[0]:.2f}-{q[2]:.2f}) |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
