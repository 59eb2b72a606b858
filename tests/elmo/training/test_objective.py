"""The training objective on real batches: it can memorise, and every cell type learns."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from elmo.config import CELL_TYPES
from elmo.nn.bilm import BiLM
from elmo.nn.chars import used_slots
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from elmo.training.config import load_train_config
from elmo.training.data import encode_corpus, make_batch, plan_epoch
from elmo.training.objective import LanguageModelObjective
from factories import FIXTURES

CORPUS = FIXTURES / "corpus"
TINY = FIXTURES.parents[1] / "configs" / "tiny.toml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    lines = (CORPUS / "train.txt").read_text(encoding="utf-8").splitlines()
    units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))
    table = units.unit_char_ids()
    chars = used_slots(table).numpy()
    train = encode_corpus(CORPUS / "train.txt", units, 32, cache)
    valid = encode_corpus(CORPUS / "valid.txt", units, 32, cache)
    return units, table, chars, train, valid


def objective_for(cell: str, units, table, seed: int = 0) -> LanguageModelObjective:
    model = load_train_config(TINY, [f'model.recurrent.cell="{cell}"']).model
    torch.manual_seed(seed)
    return LanguageModelObjective(BiLM(replace(model, vocab_size=units.vocab_size)), table)


def mean_loss(objective, batches) -> float:
    with torch.no_grad():
        total = sum(sum(objective(b)) / 2 for b in batches)
        return float(total) / sum(b.predictions for b in batches)


def test_overfitting_one_tiny_batch_drives_the_loss_near_zero(corpus):
    units, table, chars, train, _ = corpus
    objective = objective_for("lstm", units, table)
    batch = make_batch(train, np.arange(3), chars)
    optimizer = torch.optim.Adam(objective.parameters(), lr=0.01)
    for _ in range(250):
        forward, backward = objective(batch)
        loss = (forward + backward) / (2 * batch.predictions)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert mean_loss(objective, [batch]) < 0.1


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_every_cell_type_learns_the_corpus(cell, corpus):
    units, table, chars, train, valid = corpus
    objective = objective_for(cell, units, table)
    held_out = [make_batch(valid, b[0], chars) for b in plan_epoch(valid.lengths, 1024, 1, 0, 0)]
    before = mean_loss(objective, held_out)
    optimizer = torch.optim.Adam(objective.parameters(), lr=0.01)
    for (indices,) in plan_epoch(train.lengths, 1024, 1, seed=0, epoch=0)[:40]:
        batch = make_batch(train, indices, chars)
        forward, backward = objective(batch)
        optimizer.zero_grad()
        ((forward + backward) / (2 * batch.predictions)).backward()
        optimizer.step()
    after = mean_loss(objective, held_out)
    assert after < before - 1.0, (before, after)
