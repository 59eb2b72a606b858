"""Linear probes: multinomial logistic regression on frozen features.

Features are standardised with the training split's statistics and the probe is fit by L-BFGS on
the whole training split with the L2 penalty of scikit-learn's default (C = 1, i.e. 1 / 2N on the
mean loss), so a probe's accuracy measures what is linearly readable from a layer rather than
how well an optimiser or a penalty was tuned.  Deterministic for a given
input (fixed initialisation, full-batch steps).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional

__all__ = ["LinearProbe", "cross_validated_accuracy"]


class LinearProbe:
    """Fit on ``(N, F)`` features and integer labels; predict classes for new features."""

    def __init__(self, l2: float | None = None, max_iter: int = 100) -> None:
        self.l2 = l2  # None: 1 / (2 N), the penalty of scikit-learn's default C = 1
        self.max_iter = max_iter

    def fit(self, features: np.ndarray, labels: np.ndarray, num_classes: int) -> LinearProbe:
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))  # (N, F)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))  # (N,)
        self.mean = x.mean(0)
        self.std = x.std(0).clamp_min(1e-6)
        x = (x - self.mean) / self.std
        l2 = self.l2 if self.l2 is not None else 1 / (2 * len(x))
        weight = torch.zeros(x.shape[1], num_classes, requires_grad=True)
        bias = torch.zeros(num_classes, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias],
            lr=1.0,
            max_iter=self.max_iter,
            tolerance_grad=1e-5,
            tolerance_change=1e-7,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = functional.cross_entropy(x @ weight + bias, y) + l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        logits = ((x - self.mean) / self.std) @ self.weight + self.bias  # (N, C)
        return logits.argmax(1).numpy()

    def accuracy(self, features: np.ndarray, labels: np.ndarray) -> float:
        return float((self.predict(features) == np.asarray(labels)).mean())


def cross_validated_accuracy(
    features: np.ndarray, labels: np.ndarray, folds: int = 10, seed: int = 0
) -> float:
    """Mean accuracy over ``folds`` seeded folds (each item is tested exactly once)."""
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    correct = 0
    num_classes = int(labels.max()) + 1
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold, assume_unique=True)
        probe = LinearProbe().fit(features[train], labels[train], num_classes)
        correct += int((probe.predict(features[fold]) == labels[fold]).sum())
    return correct / len(labels)
