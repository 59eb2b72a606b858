"""Numerical parity with AllenNLP's ELMo on the reference fixture (see its README)."""

import json

import numpy as np
import pytest
import torch

from elmo.inference.embedder import Embedder
from elmo.io.convert import load_original
from elmo.nn.chars import batch_to_char_ids
from elmo.nn.scalar_mix import ScalarMix
from factories import ELMO_REFERENCE

RTOL, ATOL = 1e-5, 2e-5


@pytest.fixture(scope="module")
def reference():
    sentences = json.loads((ELMO_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
    return sentences, dict(np.load(ELMO_REFERENCE / "expected.npz"))


@pytest.fixture(scope="module")
def model():
    return load_original(ELMO_REFERENCE / "options.json", ELMO_REFERENCE / "weights.hdf5")


def reference_mix(expected: dict[str, np.ndarray]) -> ScalarMix:
    return ScalarMix(
        3,
        initial_weights=expected["scalar_mix_parameters"].tolist(),
        gamma=float(expected["gamma"]),
    )


def test_batch_layers_and_mix_match_allennlp(model, reference):
    sentences, expected = reference
    with torch.no_grad():
        output = model(batch_to_char_ids(sentences))
        mixed = reference_mix(expected)(output.layers, output.mask)
    np.testing.assert_array_equal(output.mask.numpy(), expected["mask"])
    for k in range(3):
        np.testing.assert_allclose(
            output.layers[k].numpy(), expected[f"layer_{k}"], rtol=RTOL, atol=ATOL
        )
    np.testing.assert_allclose(mixed.numpy(), expected["elmo_mix"], rtol=RTOL, atol=ATOL)


def test_padded_positions_are_exactly_zero(model, reference):
    sentences, _ = reference
    with torch.no_grad():
        output = model(batch_to_char_ids(sentences))
        mixed = ScalarMix(3, layer_norm=True)(output.layers, output.mask)
    padding = ~output.mask
    assert padding.any()
    assert torch.count_nonzero(output.layers[:, padding]) == 0
    assert torch.count_nonzero(mixed[padding]) == 0


def test_each_sentence_alone_matches_allennlp_single_runs(model, reference):
    sentences, expected = reference
    for i, sentence in enumerate(sentences):
        n = len(sentence)
        with torch.no_grad():
            output = model(batch_to_char_ids([sentence]))
            mixed = reference_mix(expected)(output.layers, output.mask)
        for k in range(3):
            np.testing.assert_allclose(
                output.layers[k, 0].numpy(),
                expected[f"single_layer_{k}"][i, :n],
                rtol=RTOL,
                atol=ATOL,
            )
        np.testing.assert_allclose(
            mixed[0].numpy(), expected["single_elmo_mix"][i, :n], rtol=RTOL, atol=ATOL
        )
        assert not expected["single_layer_2"][i, n:].any()


def test_embedder_on_original_files_returns_reference_layers(reference):
    sentences, expected = reference
    vectors = Embedder.from_pretrained(ELMO_REFERENCE, batch_size=4).embed_tokens(sentences)
    for i, array in enumerate(vectors):
        n = len(sentences[i])
        assert array.dtype == np.float32
        assert array.shape == (3, n, 32)
        reference_layers = np.stack([expected[f"layer_{k}"][i, :n] for k in range(3)])
        np.testing.assert_allclose(array, reference_layers, rtol=RTOL, atol=ATOL)


def test_contextual_layers_differ_for_the_same_word_in_two_contexts(model, reference):
    sentences, _ = reference
    with torch.no_grad():
        layers = model(batch_to_char_ids(sentences[:2])).layers
    first, second = layers[:, 0, 1], layers[:, 1, 10]  # "gato" in sentences 0 and 1
    assert torch.equal(first[0], second[0])
    assert not torch.allclose(first[1], second[1])
    assert not torch.allclose(first[2], second[2])
