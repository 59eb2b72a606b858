"""Parity with the original TensorFlow biLM (AllenNLP's golden fixtures, see their README)."""

import json

import h5py
import numpy as np
import pytest
import torch

from elmo.io.convert import load_original
from elmo.nn.chars import batch_to_char_ids, token_to_char_ids
from factories import BILM_TF_GOLDEN

ATOL = 1e-5  # upstream used 1e-6 with a float64-free TF build; we see <= 1e-6 too


@pytest.fixture
def model():
    return load_original(BILM_TF_GOLDEN / "options.json", BILM_TF_GOLDEN / "lm_weights.hdf5")


@pytest.fixture(scope="module")
def batches():
    sentences = json.loads((BILM_TF_GOLDEN / "sentences.json").read_text(encoding="utf-8"))
    return [[sentences[k][i].split() for k in range(3)] for i in range(10)]


def expected_top_layer(batch_index: int, row: int) -> np.ndarray:
    with h5py.File(BILM_TF_GOLDEN / f"lm_embeddings_{row}.hdf5", "r") as handle:
        both = handle[str(batch_index)][...]  # (2, n, 16): forward, backward
    return np.concatenate([both[0], both[1]], axis=-1)


def run_top_layer(model, batch):
    with torch.no_grad():
        return model(batch_to_char_ids(batch)).layers[-1].numpy()


def test_first_batch_matches_tensorflow_without_state(model, batches):
    top = run_top_layer(model, batches[0])
    for row in range(3):
        expected = expected_top_layer(0, row)
        np.testing.assert_allclose(top[row, : len(expected)], expected, atol=ATOL, rtol=0)


def test_stateful_mode_reproduces_all_ten_tensorflow_batches(model, batches):
    model.stateful = True
    for i, batch in enumerate(batches):
        top = run_top_layer(model, batch)
        for row in range(3):
            expected = expected_top_layer(i, row)
            np.testing.assert_allclose(top[row, : len(expected)], expected, atol=ATOL, rtol=0)


def test_stateless_mode_does_not_reproduce_later_stateful_batches(model, batches):
    """The reference was stateful: without carried state, batch 1 must differ (the check bites)."""
    top = run_top_layer(model, batches[1])
    expected = expected_top_layer(1, 0)
    assert np.abs(top[0, : len(expected)] - expected).max() > 1e-3


def test_reset_states_restarts_from_zero(model, batches):
    model.stateful = True
    first = run_top_layer(model, batches[0])
    run_top_layer(model, batches[1])
    model.recurrent.reset_states()
    np.testing.assert_array_equal(run_top_layer(model, batches[0]), first)


def test_context_free_token_embeddings_match_tensorflow(model):
    words = (BILM_TF_GOLDEN / "vocab_test.txt").read_text(encoding="utf-8").split("\n")
    with h5py.File(BILM_TF_GOLDEN / "elmo_token_embeddings.hdf5", "r") as handle:
        expected = handle["embedding"][...]
    assert len(words) == expected.shape[0] == 458
    ids = torch.tensor([token_to_char_ids(w) for w in words])
    with torch.no_grad():
        ours = model.token_encoder(ids).numpy()
    np.testing.assert_allclose(ours, expected, atol=ATOL, rtol=0)
