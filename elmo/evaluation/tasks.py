"""The tasks of the suite; each returns plain numbers per view (see :mod:`features`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from elmo.evaluation.brown import UNIVERSAL_TAGS
from elmo.evaluation.features import view_names, view_vectors, word_vectors
from elmo.evaluation.probe import LinearProbe, cross_validated_accuracy
from elmo.evaluation.wordnet import SensePair
from elmo.inference.embedder import Embedder
from elmo.nn.bilm import BiLM
from elmo.tokenization import SentencePieceUnits

__all__ = [
    "CONTEXT_PAIRS",
    "ContextPair",
    "TaskResult",
    "context_pairs",
    "lm_perplexity",
    "polarity_probe",
    "pos_probe",
    "word_sense",
]

COSINE_DECIMALS = 4  # cosines are compared after rounding: differences below are float noise


@dataclass
class TaskResult:
    """``scores``: view → value (accuracy in %, or perplexity); ``baselines``: name → value."""

    task: str
    title: str
    metric: str
    scores: dict[str, float]
    baselines: dict[str, float] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ContextPair:
    """One word in two sentences (space-tokenized); ``same`` says whether its sense is shared."""

    word: str
    first: str
    second: str
    same: bool


CONTEXT_PAIRS = (
    ContextPair(
        "gato",
        "El gato come pescado .",
        "Para cambiar la rueda , levanté el auto con el gato .",
        same=False,
    ),
    ContextPair("gato", "El gato come pescado .", "Mi gato duerme en el sofá .", same=True),
    ContextPair(
        "banco",
        "Me senté en un banco del parque a leer .",
        "Fui al banco a sacar dinero de mi cuenta .",
        same=False,
    ),
    ContextPair(
        "planta",
        "Riego la planta del balcón todos los días .",
        "Trabaja en una planta de montaje de coches .",
        same=False,
    ),
    ContextPair(
        "bank",
        "We sat on the bank of the river and watched the boats .",
        "She deposited the money in her account at the bank .",
        same=False,
    ),
    ContextPair(
        "bat",
        "The bat flew out of the cave at dusk .",
        "He swung the bat and hit the ball over the fence .",
        same=False,
    ),
    ContextPair(
        "bank",
        "She deposited the money in her account at the bank .",
        "The bank raised its interest rates again .",
        same=True,
    ),
)


def pos_probe(
    embedder: Embedder,
    train: Sequence[Sequence[tuple[str, str]]],
    test: Sequence[Sequence[tuple[str, str]]],
    progress: tqdm | None = None,
) -> TaskResult:
    """A linear tagger per view, trained on ``train`` tokens and scored on ``test`` tokens."""
    tag_index = {tag: i for i, tag in enumerate(UNIVERSAL_TAGS)}
    y_train = np.array([tag_index[t] for s in train for _, t in s])
    y_test = np.array([tag_index[t] for s in test for _, t in s])
    train_arrays = word_vectors(embedder, [[w for w, _ in s] for s in train], progress)
    test_arrays = word_vectors(embedder, [[w for w, _ in s] for s in test], progress)
    _fitting(progress)
    scores = {}
    for view in view_names(embedder.num_layers):
        x_train = np.concatenate([view_vectors(a, view) for a in train_arrays])
        x_test = np.concatenate([view_vectors(a, view) for a in test_arrays])
        probe = LinearProbe().fit(x_train, y_train, len(UNIVERSAL_TAGS))
        scores[view] = 100 * probe.accuracy(x_test, y_test)
    return TaskResult(
        "pos",
        "POS tagging, Brown corpus, 12 universal tags (linear probe)",
        "accuracy %",
        scores,
        {"majority tag per word": 100 * majority_tag_accuracy(train, test)},
        {"train tokens": len(y_train), "test tokens": len(y_test)},
    )


def majority_tag_accuracy(
    train: Sequence[Sequence[tuple[str, str]]], test: Sequence[Sequence[tuple[str, str]]]
) -> float:
    """Each word's most frequent training tag; unseen words get the most frequent tag overall."""
    counts: dict[str, Counter[str]] = {}
    overall: Counter[str] = Counter()
    for sentence in train:
        for word, tag in sentence:
            counts.setdefault(word, Counter())[tag] += 1
            overall[tag] += 1
    fallback = overall.most_common(1)[0][0]
    best = {word: c.most_common(1)[0][0] for word, c in counts.items()}
    pairs = [(best.get(word, fallback), tag) for s in test for word, tag in s]
    return sum(p == t for p, t in pairs) / len(pairs)


def word_sense(
    embedder: Embedder,
    dev: list[SensePair],
    test: list[SensePair],
    progress: tqdm | None = None,
) -> TaskResult:
    """Same vs different sense by a cosine threshold tuned on ``dev``, scored on ``test``."""
    examples = {e: None for pair in dev + test for e in (pair.first, pair.second)}
    order = list(examples)
    arrays = word_vectors(embedder, [e.tokens for e in order], progress)
    target = {e: a[:, e.index] for e, a in zip(order, arrays, strict=True)}  # (L, 2D)
    scores = {}
    thresholds = {}
    for view in view_names(embedder.num_layers):

        def cosines(pairs: list[SensePair], view: str = view) -> np.ndarray:
            values = [
                _cosine(view_vectors(target[p.first], view), view_vectors(target[p.second], view))
                for p in pairs
            ]
            return np.array(values).round(COSINE_DECIMALS)

        threshold = _best_threshold(cosines(dev), np.array([p.same for p in dev]))
        predicted = cosines(test) >= threshold
        scores[view] = 100 * float((predicted == np.array([p.same for p in test])).mean())
        thresholds[view] = threshold
    return TaskResult(
        "wsd",
        "Word sense, WordNet 3.1 example pairs: same vs different synset (cosine threshold)",
        "accuracy %",
        scores,
        {"chance": 50.0},
        {
            "dev pairs": len(dev),
            "test pairs": len(test),
            "thresholds": {k: round(v, 4) for k, v in thresholds.items()},
        },
    )


def _best_threshold(cosines: np.ndarray, same: np.ndarray) -> float:
    """The cut (predict "same" at or above it) that is most accurate on the dev pairs."""
    values = np.unique(cosines)
    candidates = np.concatenate([[values[0]], (values[1:] + values[:-1]) / 2, [np.inf]])
    accuracy = [float(((cosines >= c) == same).mean()) for c in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def polarity_probe(
    embedder: Embedder,
    sentences: Sequence[Sequence[str]],
    labels: Sequence[int],
    folds: int = 10,
    progress: tqdm | None = None,
) -> TaskResult:
    """Mean-pooled sentence vectors per view, logistic regression, ``folds``-fold CV."""
    arrays = word_vectors(embedder, sentences, progress)
    _fitting(progress)
    y = np.asarray(labels)
    scores = {}
    for view in view_names(embedder.num_layers):
        x = np.stack([view_vectors(a, view).mean(0) for a in arrays])  # (N, 2D)
        scores[view] = 100 * cross_validated_accuracy(x, y, folds)
    majority = 100 * max(float(y.mean()), 1 - float(y.mean()))
    return TaskResult(
        "polarity",
        f"Sentence polarity (Pang & Lee), mean-pooled, logistic regression, {folds}-fold CV",
        "accuracy %",
        scores,
        {"majority class": majority},
        {"sentences": len(y)},
    )


def context_pairs(
    embedder: Embedder,
    pairs: Sequence[ContextPair] = CONTEXT_PAIRS,
    progress: tqdm | None = None,
) -> TaskResult:
    """Cosine of a word's vectors in two sentences, per view (the course's "gato" example)."""
    rows: dict[str, dict[str, float]] = {}
    for pair in pairs:
        first, second = pair.first.split(), pair.second.split()
        a, b = word_vectors(embedder, [first, second], progress)
        i, j = first.index(pair.word), second.index(pair.word)
        sense = "same" if pair.same else "different"
        label = f"{pair.word} ({sense} sense): «{pair.first}» vs «{pair.second}»"
        rows[label] = {
            view: _cosine(view_vectors(a[:, i], view), view_vectors(b[:, j], view))
            for view in view_names(embedder.num_layers)
        }
    different = [r for p, r in zip(pairs, rows.values(), strict=True) if not p.same]
    mean_different = {v: float(np.mean([r[v] for r in different])) for v in different[0]}
    return TaskResult(
        "pairs",
        "A word in two contexts: cosine per view",
        "cosine",
        mean_different,
        details={"pairs": rows},
    )


def _fitting(progress: tqdm | None) -> None:
    """Say on the bar that the sentences are embedded and the probes train now (the bar would
    otherwise sit at 100 % for the seconds that takes)."""
    if progress is not None:
        progress.set_postfix_str("fitting the probes")


def lm_perplexity(
    model: BiLM,
    units: SentencePieceUnits,
    sentences: Sequence[Sequence[str]],
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: tqdm | None = None,
) -> TaskResult:
    """Held-out perplexity per direction: per unit, and per word (comparable across tokenizers).

    Each sentence is ``<S> pieces </S>``; the forward LM predicts every unit after ``<S>``, the
    backward LM every unit before ``</S>``.  Per-word perplexity divides the same total NLL by
    words + 1 (the boundary is predicted too).
    """
    unit_chars = units.unit_char_ids()  # (V, 50)
    encoded = []
    words = 0
    for sentence in sentences:
        if not sentence:
            continue
        pieces = [i for word in units.encode_words(list(sentence)) for i in word]
        encoded.append(torch.tensor([units.bos_id, *pieces, units.eos_id]))
        words += len(sentence)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    totals = {"forward": 0.0, "backward": 0.0}
    predictions = 0
    model = model.to(device).eval()
    if progress is not None:
        progress.total = (progress.total or 0) + len(order)
        progress.refresh()
    for start in range(0, len(order), batch_size):
        chunk = [encoded[i] for i in order[start : start + batch_size]]
        ids = pad_sequence(chunk, batch_first=True)  # (B, T), 0 past each end
        char_ids = _char_ids(unit_chars, chunk)  # (B, T, 50), all-zero past each end
        with torch.inference_mode():
            loss = model.language_model_loss(char_ids.to(device), ids.to(device))
        totals["forward"] += float(loss.forward) * loss.count
        totals["backward"] += float(loss.backward) * loss.count
        predictions += loss.count
        if progress is not None:
            progress.update(len(chunk))
    per_unit = {d: math.exp(t / predictions) for d, t in totals.items()}
    per_unit["mean"] = math.exp(sum(totals.values()) / (2 * predictions))
    per_word = {d: math.exp(t / (words + len(encoded))) for d, t in totals.items()}
    per_word["mean"] = math.exp(sum(totals.values()) / (2 * (words + len(encoded))))
    return TaskResult(
        "lm",
        "Language-model perplexity on held-out text",
        "perplexity",
        per_unit,
        details={
            "per word": per_word,
            "sentences": len(encoded),
            "words": words,
            "units predicted per direction": predictions,
        },
    )


def _char_ids(unit_chars: torch.Tensor, sequences: list[torch.Tensor]) -> torch.Tensor:
    """Unit ids per sequence → char ids ``(B, T, 50)``, all-zero rows for padded slots."""
    longest = max(len(s) for s in sequences)
    out = torch.zeros(len(sequences), longest, unit_chars.shape[1], dtype=unit_chars.dtype)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = unit_chars[sequence]
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm > 0 else 0.0
