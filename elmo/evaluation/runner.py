"""Running the suite for one model and its random-init control."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from elmo.errors import InvalidInputError
from elmo.evaluation.brown import brown_split, load_brown
from elmo.evaluation.polarity import load_polarity
from elmo.evaluation.sources import EvalData
from elmo.evaluation.tasks import (
    TaskResult,
    context_pairs,
    lm_perplexity,
    polarity_probe,
    pos_probe,
    word_sense,
)
from elmo.evaluation.wordnet import load_sense_examples, sense_pairs
from elmo.inference.embedder import Embedder
from elmo.io.bundle import load_model, load_tokenizer, resolve_model_path
from elmo.nn.bilm import BiLM
from elmo.tokenization import SentencePieceUnits

__all__ = [
    "CONTROL_LABEL",
    "TASKS",
    "EvalReport",
    "EvalSizes",
    "ModelResults",
    "random_init_control",
    "run_evaluation",
]

TASKS = ("lm", "pos", "wsd", "polarity", "pairs")
TASK_SOURCES = {"lm": "brown", "pos": "brown", "wsd": "wordnet", "polarity": "polarity"}
CONTROL_LABEL = "random init (control)"


def random_init_control(trained: BiLM, seed: int = 0) -> BiLM:
    """The control every comparison is made against: a model of ``trained``'s architecture
    with fresh random weights, so that what it scores is what the architecture and the head do
    without pretraining.  One seed convention for all callers (``elmo evaluate --seed`` and
    ``elmo task table --seed``), so that both measure the same control weights."""
    torch.manual_seed(seed)
    return BiLM(trained.config).eval()


@dataclass(frozen=True)
class EvalSizes:
    """How much of each dataset a run uses (sentences or pairs); ``quick`` for a smoke run."""

    pos_train: int = 6000
    pos_test: int = 2000
    wsd_pairs: int = 6000
    polarity: int = 4000
    lm_sentences: int = 2000

    @classmethod
    def preset(cls, name: str) -> EvalSizes:
        if name == "full":
            return cls()
        if name == "quick":
            return cls(pos_train=600, pos_test=200, wsd_pairs=600, polarity=600, lm_sentences=200)
        raise InvalidInputError(f"unknown size preset {name!r}; choose 'full' or 'quick'")


@dataclass
class ModelResults:
    label: str
    results: dict[str, TaskResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class EvalReport:
    model: str
    path: str
    summary: dict[str, str | int]
    sizes: EvalSizes
    data: EvalData
    models: list[ModelResults]
    seconds: float
    command: str = ""


def run_evaluation(
    model: str | Path,
    data: EvalData,
    tasks: Sequence[str] = TASKS,
    sizes: EvalSizes | None = None,
    control: bool = True,
    lm_text: Sequence[Sequence[str]] | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    seed: int = 0,
    log: Callable[[str], None] = lambda message: None,
    progress: bool = False,
) -> EvalReport:
    """Run ``tasks`` on ``model`` and (``control``) on a random-init model of its architecture.

    ``progress`` shows a bar per task on stderr, counting the sentences embedded (the slow part
    on a CPU); without it each task is one ``log`` line.
    """
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise InvalidInputError(f"unknown task(s) {unknown}; choose from {list(TASKS)}")
    sizes = sizes or EvalSizes()
    started = time.perf_counter()
    path = resolve_model_path(model)
    trained = load_model(path)
    units = load_tokenizer(path)
    inputs = _load_inputs(tasks, data, sizes, lm_text, seed, log)
    candidates = [("trained", trained)]
    if control:
        candidates.append((CONTROL_LABEL, random_init_control(trained, seed)))
    reports = []
    for label, bilm in candidates:
        embedder = Embedder(bilm, batch_size, device, units=units)
        results = ModelResults(label)
        for task in tasks:
            if not progress:
                log(f"{label}: {task}")
            with tqdm(
                desc=f"{label}: {task}",
                total=0,
                unit=" sentences",
                disable=not progress,
                file=sys.stderr,
                dynamic_ncols=True,
            ) as bar:
                shown = bar if progress else None
                outcome = _run_task(task, embedder, bilm, units, inputs, batch_size, device, shown)
            if isinstance(outcome, str):
                results.skipped[task] = outcome
            else:
                results.results[task] = outcome
        reports.append(results)
    summary = {
        "cell": trained.config.recurrent.cell,
        "layers": trained.config.num_output_layers,
        "dim": trained.config.output_dim,
        "parameters": sum(p.numel() for p in trained.parameters()),
        "tokenizer": f"sentencepiece, {units.vocab_size} units" if units else "words",
    }
    return EvalReport(
        model=path.name,
        path=str(model),
        summary=summary,
        sizes=sizes,
        data=data,
        models=reports,
        seconds=time.perf_counter() - started,
    )


def _load_inputs(
    tasks: Sequence[str],
    data: EvalData,
    sizes: EvalSizes,
    lm_text: Sequence[Sequence[str]] | None,
    seed: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if ("pos" in tasks or ("lm" in tasks and lm_text is None)) and data.brown is not None:
        log(f"reading Brown from {data.brown}")
        train, test = brown_split(load_brown(data.brown), sizes.pos_train, sizes.pos_test, seed)
        inputs["pos"] = (train, test)
        inputs["lm"] = [[w for w, _ in s] for s in test[: sizes.lm_sentences]]
    if lm_text is not None:
        inputs["lm"] = list(lm_text)[: sizes.lm_sentences]
    if "wsd" in tasks and data.wordnet is not None:
        log(f"reading WordNet from {data.wordnet}")
        inputs["wsd"] = sense_pairs(load_sense_examples(data.wordnet), sizes.wsd_pairs, seed)
    if "polarity" in tasks and data.polarity is not None:
        log(f"reading polarity sentences from {data.polarity}")
        sentences, labels = load_polarity(data.polarity)
        keep = _balanced_sample(labels, sizes.polarity, seed)
        inputs["polarity"] = ([sentences[i] for i in keep], [labels[i] for i in keep])
    return inputs


def _balanced_sample(labels: list[int], count: int, seed: int) -> list[int]:
    """At most ``count`` indices, half of each label where possible, in file order."""
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(set(labels)):
        indices = [i for i, value in enumerate(labels) if value == label]
        chosen += rng.sample(indices, min(len(indices), count // 2))
    return sorted(chosen)


def _run_task(
    task: str,
    embedder: Embedder,
    bilm: BiLM,
    units: SentencePieceUnits | None,
    inputs: dict[str, Any],
    batch_size: int,
    device: str,
    progress: tqdm | None = None,
) -> TaskResult | str:
    """The task's result, or why it was skipped."""
    if task == "pairs":
        return context_pairs(embedder, progress=progress)
    if task not in inputs:
        return f"no data ({TASK_SOURCES[task]} not available)"
    if task == "lm":
        if bilm.lm_head is None or units is None:
            return "the model has no LM head over sentencepiece units"
        return lm_perplexity(bilm, units, inputs["lm"], batch_size, device, progress)
    if task == "pos":
        train, test = inputs["pos"]
        return pos_probe(embedder, train, test, progress)
    if task == "wsd":
        dev, pairs = inputs["wsd"]
        return word_sense(embedder, dev, pairs, progress)
    sentences, labels = inputs["polarity"]
    return polarity_probe(embedder, sentences, labels, progress=progress)
