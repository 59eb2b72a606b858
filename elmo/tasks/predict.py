"""Predictions and scores of a task model, shared by training (validation) and the bundle.

One code path scores validation during training and a file after reloading, so that the
scores in ``TASK_CARD.md`` are the ones ``elmo task evaluate`` gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from elmo.errors import InvalidInputError
from elmo.tasks.data import Dataset, Example
from elmo.tasks.heads import TaskModel

__all__ = ["TaskPredictor", "encode_targets", "score"]


def encode_targets(dataset: Dataset, labels: Sequence[str]) -> list[list[int]]:
    """Label ids per example (one for classify, one per token for tag); a label the model
    was not trained on is an error of that file and line, not a silent wrong answer."""
    index = {label: i for i, label in enumerate(labels)}
    targets = []
    for example in dataset.examples:
        wanted = [example.label] if example.label is not None else example.tags or []
        unknown = [t for t in wanted if t not in index]
        if unknown:
            raise InvalidInputError(
                f"{dataset.path}:{example.line}: label {unknown[0]!r} is not one of the "
                f"{len(labels)} labels of the training data ({', '.join(labels)})"
            )
        targets.append([index[t] for t in wanted])
    return targets


def batches(count: int, size: int, order: Sequence[int] | None = None) -> Iterator[list[int]]:
    ids = list(order) if order is not None else list(range(count))
    for start in range(0, count, size):
        yield ids[start : start + size]


def batch_loss(
    model: TaskModel, examples: Sequence[Example], targets: Sequence[Sequence[int]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed cross-entropy, predicted ids and gold ids of a batch (per sentence for classify,
    per real token for tag), so that callers can average over sentences or tokens."""
    logits, mask = model([e.tokens for e in examples])  # (B, K) or (B, T, K); (B, T)
    device = logits.device
    if model.config.task == "classify":
        gold = torch.tensor([t[0] for t in targets], device=device)  # (B,)
        flat = logits  # (B, K)
    else:
        gold = torch.cat([torch.tensor(t, dtype=torch.long) for t in targets]).to(device)  # (N,)
        flat = logits[mask]  # (N, K): real tokens, in reading order
    loss = F.cross_entropy(flat, gold, reduction="sum")
    return loss, flat.argmax(dim=-1), gold


def score(
    model: TaskModel, dataset: Dataset, batch_size: int = 64, targets: Any = None
) -> dict[str, float]:
    """``accuracy`` (per token for tag), ``loss`` (mean cross-entropy) and, for classify,
    ``macro_f1`` over the labels that occur in the gold or the predictions."""
    targets = encode_targets(dataset, model.labels) if targets is None else targets
    examples = dataset.examples
    was_training = model.training
    model.eval()
    total = 0.0
    predicted: list[torch.Tensor] = []
    gold: list[torch.Tensor] = []
    with torch.no_grad():
        for ids in batches(len(examples), batch_size):
            loss, guess, truth = batch_loss(
                model, [examples[i] for i in ids], [targets[i] for i in ids]
            )
            total += float(loss)
            predicted.append(guess.cpu())
            gold.append(truth.cpu())
    model.train(was_training)
    guesses, truths = torch.cat(predicted), torch.cat(gold)  # (N,), (N,)
    result = {
        "accuracy": float((guesses == truths).double().mean()),
        "loss": total / len(truths),
    }
    if model.config.task == "classify":
        result["macro_f1"] = macro_f1(guesses, truths)
    return result


def macro_f1(guesses: torch.Tensor, truths: torch.Tensor) -> float:
    labels = torch.unique(torch.cat([guesses, truths]))
    scores = []
    for label in labels:
        tp = float(((guesses == label) & (truths == label)).sum())
        fp = float(((guesses == label) & (truths != label)).sum())
        fn = float(((guesses != label) & (truths == label)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


class TaskPredictor:
    """A trained task model ready to label sentences (what :func:`elmo.tasks.load_task`
    returns): the same weights and batches give the same predictions, bit for bit."""

    def __init__(self, model: TaskModel, directory: Path | None = None) -> None:
        self.model = model.eval()
        self.directory = directory

    @property
    def task(self) -> str:
        return self.model.config.task

    @property
    def labels(self) -> list[str]:
        return list(self.model.labels)

    def predict(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 64
    ) -> list[dict[str, Any]]:
        """Per sentence: classify ``{"label", "probabilities": {label: p}}``; tag ``{"tokens",
        "tags", "probabilities": [{tag: p}, ...]}``."""
        found: list[dict[str, Any]] = []
        with torch.no_grad():
            for ids in batches(len(sentences), batch_size):
                batch = [list(sentences[i]) for i in ids]
                logits, _ = self.model(batch)
                found += self._records(logits, batch)
        return found

    def predict_layers(
        self,
        arrays: Sequence[np.ndarray],
        tokens: Sequence[Sequence[str]],
        batch_size: int = 64,
    ) -> list[dict[str, Any]]:
        """:meth:`predict` from the biLM's layers already computed: one ``[L, n, 2D]`` float
        array per sentence (all of the base model's layers, per word), with its ``n`` tokens.
        The layers must be the base model's (the caller checks it); same records as
        :meth:`predict`."""
        if len(arrays) != len(tokens):
            raise InvalidInputError(f"{len(arrays)} layer arrays for {len(tokens)} sentences")
        for i, (array, words) in enumerate(zip(arrays, tokens, strict=True)):
            if array.ndim != 3 or array.shape[1] != len(words):
                raise InvalidInputError(
                    f"sentence {i}: layers of shape {tuple(array.shape)} for {len(words)} tokens "
                    "(expected [L, n, 2D])"
                )
        self.model.eval()
        device = self.model.output.weight.device
        found: list[dict[str, Any]] = []
        with torch.no_grad():
            for ids in batches(len(arrays), batch_size):
                kept = [torch.from_numpy(np.ascontiguousarray(arrays[i])) for i in ids]
                count, width = kept[0].shape[0], kept[0].shape[2]
                longest = max(t.shape[1] for t in kept)
                layers = torch.zeros(count, len(kept), longest, width, device=device)
                mask = torch.zeros(len(kept), longest, dtype=torch.bool, device=device)
                for row, t in enumerate(kept):
                    layers[:, row, : t.shape[1]] = t.to(device=device, dtype=layers.dtype)
                    mask[row, : t.shape[1]] = True
                logits, _ = self.model.forward_layers(layers, mask)
                found += self._records(logits, [list(tokens[i]) for i in ids])
        return found

    def _records(self, logits: torch.Tensor, batch: list[list[str]]) -> list[dict[str, Any]]:
        labels = self.model.labels
        probabilities = torch.softmax(logits.float(), dim=-1).cpu()  # (B, [T,] K)
        found: list[dict[str, Any]] = []
        for b, tokens in enumerate(batch):
            if self.task == "classify":
                row = probabilities[b].tolist()  # (K,)
                found.append(
                    {
                        "label": labels[int(probabilities[b].argmax())],
                        "probabilities": dict(zip(labels, row, strict=True)),
                    }
                )
                continue
            rows = probabilities[b, : len(tokens)]  # (n, K)
            found.append(
                {
                    "tokens": tokens,
                    "tags": [labels[int(i)] for i in rows.argmax(dim=-1)],
                    "probabilities": [dict(zip(labels, r, strict=True)) for r in rows.tolist()],
                }
            )
        return found

    def evaluate(self, dataset: Dataset, batch_size: int | None = None) -> dict[str, float]:
        """Scores as training computed them: by default in batches of the training batch size,
        so that the loss matches the card's to the last bit (the head's sums round by batch)."""
        return score(self.model, dataset, batch_size or self.model.config.batch_size)
