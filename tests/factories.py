"""Tiny models and random sentences shared by the tests."""

from __future__ import annotations

import random
import string
from pathlib import Path

import torch

from elmo.config import CELL_TYPES, LSTM_FAMILY, CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.nn.bilm import BiLM

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
