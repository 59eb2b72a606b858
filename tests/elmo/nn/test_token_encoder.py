import json

import numpy as np
import pytest
import torch

from elmo.config import CharCNNConfig
from elmo.io.convert import load_original
from elmo.nn.bilm import add_sentence_boundaries, mask_and_lengths
from elmo.nn.char_cnn import CharCNN
from elmo.nn.chars import batch_to_char_ids
from factories import ELMO_REFERENCE


def full_width_reference(cnn: CharCNN, char_ids: torch.Tensor) -> torch.Tensor:
    """The textbook computation: every convolution over all 50 slots, max, activation."""
    chars = cnn.char_embedding(char_ids).transpose(1, 2)  # (N, E, 50)
    pooled = [conv(chars).amax(-1) for conv in cnn.convolutions]
    return cnn.activation(torch.cat(pooled, -1))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize(
    "words",
    [
        ["a", "bb", "ccc", "El", "gato"],  # short words: the truncated path
        ["w" * 41, "v"],  # the longest word the truncated path takes (43 slots + width 7)
        ["x" * 44, "y"],  # a word reaching slot 46: the per-width fallback
        ["é" * 40, "z"],  # cut at 48 bytes, all 50 slots used
        ["<S>", "</S>", "word"],
    ],
)
def test_truncated_char_cnn_equals_full_width_convolution(activation, words):
    config = CharCNNConfig(
        embedding_dim=4,
        filters=((1, 3), (2, 5), (3, 4), (7, 6)),
        n_highway=0,
        activation=activation,
    )
    cnn = CharCNN(config)
    ids = batch_to_char_ids([words]).reshape(-1, 50)
    with torch.no_grad():
        ours = cnn(ids)
        reference = full_width_reference(cnn, ids)
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-6)


def test_char_cnn_handles_zero_tokens():
    cnn = CharCNN(CharCNNConfig(embedding_dim=4, filters=((1, 3), (2, 5))))
    assert cnn(torch.zeros(0, 50, dtype=torch.long)).shape == (0, 8)


def test_token_encoder_debug_arrays_match_allennlp():
    """char-CNN features and highway output at real positions (incl. boundaries)."""
    model = load_original(ELMO_REFERENCE / "options.json", ELMO_REFERENCE / "weights.hdf5")
    expected = np.load(ELMO_REFERENCE / "expected.npz")
    sentences = json.loads((ELMO_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
    char_ids = batch_to_char_ids(sentences)
    _, lengths = mask_and_lengths(char_ids)
    with_boundaries = add_sentence_boundaries(char_ids, lengths)
    real = expected["mask_with_boundaries"]
    encoder = model.token_encoder
    with torch.no_grad():
        features = encoder.char_cnn(with_boundaries.reshape(-1, 50)).reshape(*real.shape, -1)
        highway = encoder.highway(features)
    np.testing.assert_allclose(features.numpy()[real], expected["char_cnn_concat"][real], atol=1e-5)
    np.testing.assert_allclose(highway.numpy()[real], expected["highway_out"][real], atol=1e-5)


def test_repeated_words_get_identical_token_vectors():
    model = load_original(ELMO_REFERENCE / "options.json", ELMO_REFERENCE / "weights.hdf5")
    ids = batch_to_char_ids([["gato", "come", "gato"], ["gato"]])
    with torch.no_grad():
        vectors = model.token_encoder(ids)  # (2, 3, D)
    assert torch.equal(vectors[0, 0], vectors[0, 2])
    assert torch.equal(vectors[0, 0], vectors[1, 0])


def test_distinct_rows_finds_each_distinct_row_once_and_maps_every_row_to_it():
    from elmo.nn.token_encoder import distinct_rows

    generator = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 262, (40, 50), generator=generator)
    rows = pool[torch.randint(0, 40, (300,), generator=generator)]
    distinct, inverse = distinct_rows(rows)
    assert torch.equal(distinct[inverse], rows)
    expected = torch.unique(rows, dim=0)
    assert distinct.shape == expected.shape
    assert torch.equal(torch.unique(distinct, dim=0), expected)  # each once
    empty, nothing = distinct_rows(rows[:0])
    assert empty.shape == (0, 50) and nothing.numel() == 0


def test_distinct_rows_that_share_a_hash_are_still_told_apart(monkeypatch):
    from elmo.nn import token_encoder

    monkeypatch.setattr(token_encoder, "_HASH", torch.zeros(64, dtype=torch.int64))  # all collide
    rows = torch.tensor([[1, 2], [3, 4], [1, 2]])
    distinct, inverse = token_encoder.distinct_rows(rows)
    assert distinct.shape == (2, 2) and torch.equal(distinct[inverse], rows)
