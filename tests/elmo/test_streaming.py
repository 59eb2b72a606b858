"""Continuous batching: sentences that join a running batch at any block get exactly the
vectors the Embedder gives them."""

import random

import numpy as np
import pytest
import torch

from elmo.embedder import Embedder
from elmo.errors import InvalidInputError
from elmo.streaming import StreamingBiLM
from factories import ALL_CELLS, ELMO_REFERENCE, random_sentences, tiny_model


def run_arrivals(engine: StreamingBiLM, prepared, seed: int) -> dict:
    """Sentences join in random groups between random numbers of blocks."""
    rng = random.Random(seed)
    waiting = list(enumerate(prepared))
    results = {}
    while waiting or len(engine):
        if waiting and rng.random() < 0.4:
            count = rng.randint(1, 4)
            group, waiting = waiting[:count], waiting[count:]
            engine.add([(i, p.char_ids) for i, p in group])
        for key, vectors in engine.advance():
            assert key not in results
            results[key] = vectors
    return results


def test_sentences_joining_at_any_block_get_the_embedders_vectors_bit_for_bit():
    embedder = Embedder.from_pretrained(ELMO_REFERENCE)
    prepared = embedder.prepare(random_sentences(30, 25, seed=4))
    expected = embedder.embed_prepared(prepared)
    engine = StreamingBiLM(embedder.model, block_rows=24, min_block_steps=2)
    results = run_arrivals(engine, prepared, seed=5)
    assert sorted(results) == list(range(len(prepared))) and len(engine) == 0
    for i, want in enumerate(expected):
        assert results[i].dtype == np.float32
        np.testing.assert_array_equal(results[i], want)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_every_cell_type_streams_the_embedders_vectors_bit_for_bit(cell):
    model = tiny_model(cell, seed=3)
    embedder = Embedder(model, batch_size=64)
    prepared = embedder.prepare(random_sentences(30, 25, seed=4))
    engine = StreamingBiLM(model, block_rows=24, min_block_steps=2)
    results = run_arrivals(engine, prepared, seed=5)
    for i, want in enumerate(embedder.embed_prepared(prepared)):
        np.testing.assert_array_equal(results[i], want)


def test_a_sentence_alone_and_a_one_word_sentence_match_the_embedder():
    embedder = Embedder.from_pretrained(ELMO_REFERENCE)
    engine = StreamingBiLM(embedder.model)
    for tokens in (["alone", "here", "now"], ["a"]):
        (prepared,) = embedder.prepare([tokens])
        engine.add([("only", prepared.char_ids)])
        assert engine.keys() == ["only"]
        finished = []
        while len(engine):
            finished += engine.advance()
        ((key, vectors),) = finished
        assert key == "only"
        np.testing.assert_array_equal(vectors, embedder.embed_prepared([prepared])[0])


def test_an_emptied_unit_table_changes_no_vector():
    embedder = Embedder.from_pretrained(ELMO_REFERENCE)
    prepared = embedder.prepare(random_sentences(12, 10, seed=8))
    engine = StreamingBiLM(embedder.model, max_units=30)  # emptied several times on the way
    results = run_arrivals(engine, prepared, seed=9)
    for i, want in enumerate(embedder.embed_prepared(prepared)):
        np.testing.assert_array_equal(results[i], want)
    assert len(engine._unit_index) <= 30


def test_a_model_in_training_mode_or_stateful_is_refused():
    model = tiny_model(seed=1).train()
    with pytest.raises(ValueError, match="eval mode"):
        StreamingBiLM(model)
    model.eval()
    model.stateful = True
    with pytest.raises(ValueError, match="not stateful"):
        StreamingBiLM(model)


def test_a_sentence_without_units_is_refused_and_nothing_starts():
    engine = StreamingBiLM(tiny_model(seed=2))
    with pytest.raises(InvalidInputError, match="n >= 1"):
        engine.add([("empty", torch.zeros(0, 50, dtype=torch.long))])
    assert len(engine) == 0 and engine.advance() == []
