"""Tiny models and random sentences shared by the tests."""

from __future__ import annotations

import io
import random
import string
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from elmo.config import CELL_TYPES, LSTM_FAMILY, CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.nn.bilm import BiLM

if TYPE_CHECKING:
    import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ELMO_REFERENCE = FIXTURES / "elmo_reference"
BILM_TF_GOLDEN = FIXTURES / "bilm_tf_golden"


def tiny_config(cell: str = "lstm", clip: float | None = 3.0, **overrides: object) -> ModelConfig:
    """A model small enough to run hundreds of times in a test; clipping only for LSTM cells."""
    recurrent = RecurrentConfig(
        cell=cell,  # type: ignore[arg-type]
        num_layers=2,
        hidden_size=12,
        projection_size=6,
        cell_clip=clip if cell in LSTM_FAMILY else None,
        proj_clip=clip if cell in LSTM_FAMILY else None,
    )
    char_cnn = CharCNNConfig(embedding_dim=4, filters=((1, 4), (2, 8), (3, 8)), n_highway=1)
    return ModelConfig(char_cnn=char_cnn, recurrent=recurrent, **overrides)  # type: ignore[arg-type]


def tiny_model(cell: str = "lstm", seed: int = 0, **overrides: object) -> BiLM:
    torch.manual_seed(seed)
    return BiLM(tiny_config(cell, **overrides)).eval()


ALL_CELLS = CELL_TYPES


def one_layer(
    kind: str, hidden: int, projection: int, clip: float | None = None
) -> RecurrentConfig:
    """One recurrent layer of ``kind``, clipped at ``clip`` (cell and projection) or not."""
    return RecurrentConfig(
        cell=kind,
        hidden_size=hidden,
        projection_size=projection,
        num_layers=1,
        cell_clip=clip,
        proj_clip=clip,
    )


def random_sentences(count: int, max_words: int, seed: int, min_words: int = 1) -> list[list[str]]:
    """Sentences of random words (letters, digits, some accented letters and punctuation)."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "áéíñüß.,-"
    return [
        [
            "".join(rng.choices(alphabet, k=rng.randint(1, 12)))
            for _ in range(rng.randint(min_words, max_words))
        ]
        for _ in range(count)
    ]


def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``import matplotlib...`` fail, as where the ``plots`` extra is not installed,
    and let the once-a-process notice about it be given again."""
    for name in [n for n in sys.modules if n.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr("elmo.plots._told_missing", False)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG that decodes in full; fails on anything else."""
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert imread(io.BytesIO(data), format="png").shape[:2] == (height, width)
    return width, height


POLAR_WORDS = {"pos": ["good", "great", "nice", "fine"], "neg": ["bad", "awful", "poor", "sad"]}
FILLER_WORDS = ["the", "a", "film"]


def labelled_sentences(count: int, seed: int) -> list[tuple[str, list[str], list[str]]]:
    """``(label, words, tags)`` for the task tests: 2-3 words of one polarity and a filler
    word, tagged ``POS``/``NEG``/``O``; a rule a tiny random biLM's features can learn."""
    rng = random.Random(seed)
    found = []
    for i in range(count):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(POLAR_WORDS[label], k=rng.randint(2, 3))
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLER_WORDS))
        found.append((label, words, ["O" if w in FILLER_WORDS else label.upper() for w in words]))
    return found


def write_labelled(root: Path, split: str, rows: list[tuple[str, list[str], list[str]]]) -> None:
    """``rows`` as ``ROOT/SPLIT.tsv`` (classify: label, text) and ``ROOT/SPLIT.conll`` (tag)."""
    tsv = "".join(f"{label}\t{' '.join(words)}\n" for label, words, _ in rows)
    (root / f"{split}.tsv").write_text(tsv, encoding="utf-8")
    conll = "\n".join(
        "".join(f"{w}\t{t}\n" for w, t in zip(words, tags, strict=True)) for _, words, tags in rows
    )
    (root / f"{split}.conll").write_text(conll, encoding="utf-8")
