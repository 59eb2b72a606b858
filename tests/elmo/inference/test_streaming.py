"""Continuous batching: sentences that join a running batch at any block get exactly the
vectors the Embedder gives them."""

import random

import numpy as np
import pytest
import torch

from elmo.errors import InvalidInputError
from elmo.inference.embedder import Embedder
from elmo.inference.streaming import StreamingBiLM
from elmo.nn import step_loop
from elmo.nn.recurrent import BiRecurrent
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


def blocks_stepped_together(monkeypatch) -> list[int]:
    """The rows of each block that steps both directions together, from now on."""
    rows: list[int] = []
    stepping_together = BiRecurrent.run_pair

    def counted(self, xs, lengths, states, weights=None):
        rows.append(len(lengths))
        return stepping_together(self, xs, lengths, states, weights)

    monkeypatch.setattr(BiRecurrent, "run_pair", counted)
    return rows


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


def test_blocks_of_few_rows_step_both_directions_together_with_the_vectors_of_apart(
    monkeypatch,
):
    model = tiny_model("lstm", seed=3)
    cell = model.recurrent.forward_stack.stack()[0].cell
    gates = cell.recurrent_weight().shape[0]
    monkeypatch.setattr(step_loop, "_PAIRED_MAX_ELEMENTS", 3 * gates)  # up to 3 rows a block
    embedder = Embedder(model, batch_size=64)
    prepared = embedder.prepare(random_sentences(30, 25, seed=4))
    with monkeypatch.context() as apart:
        apart.setattr(BiRecurrent, "pairs", lambda self, x: False)
        expected = embedder.embed_prepared(prepared)
    rows_paired = blocks_stepped_together(monkeypatch)
    rows_apart: list[int] = []
    one_direction = StreamingBiLM._run_direction

    def counted_apart(self, d, x, lengths, states):
        rows_apart.append(len(lengths))
        return one_direction(self, d, x, lengths, states)

    monkeypatch.setattr(StreamingBiLM, "_run_direction", counted_apart)
    engine = StreamingBiLM(model, block_rows=24, min_block_steps=2)
    if engine._pairs is None:
        pytest.skip("this machine rounds batched pairs apart: directions never step together")
    results = run_arrivals(engine, prepared, seed=5)
    assert rows_paired and max(rows_paired) <= 3  # blocks of few rows paired
    assert rows_apart and min(rows_apart) > 3  # the others not
    for i, want in enumerate(expected):
        np.testing.assert_array_equal(results[i], want)


def test_an_engine_checks_its_pairs_at_the_thread_count_it_runs_with(monkeypatch):
    model = tiny_model("lstm", seed=3)
    embedder = Embedder(model, batch_size=64)
    prepared = embedder.prepare(random_sentences(12, 15, seed=6))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        engine = StreamingBiLM(model)  # built, and its pairs checked, at one thread
        if engine._pairs is None:
            pytest.skip("this machine rounds batched pairs apart: directions never step together")
        checked: list[int] = []

        def agree_at_one_thread_only(*args, **kwargs) -> bool:
            checked.append(torch.get_num_threads())
            return torch.get_num_threads() == 1

        monkeypatch.setattr(step_loop, "pairs_agree", agree_at_one_thread_only)
        paired = blocks_stepped_together(monkeypatch)
        torch.set_num_threads(2)
        results = run_arrivals(engine, prepared, seed=7)
        expected = embedder.embed_prepared(prepared)
    finally:
        torch.set_num_threads(previous)
    assert 2 in checked and not paired  # checked again at two threads, and not paired there
    for i, want in enumerate(expected):
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


def test_rows_of_several_groups_share_a_block_fairly_and_keep_the_embedders_vectors():
    embedder = Embedder.from_pretrained(ELMO_REFERENCE)
    big = embedder.prepare(random_sentences(12, 40, seed=20))  # one request of 12
    small = embedder.prepare(random_sentences(3, 6, seed=21))  # three of one sentence
    engine = StreamingBiLM(embedder.model, block_rows=16, min_block_steps=2, shared_rows=5)
    engine.add([(("big", i), p.char_ids) for i, p in enumerate(big)], ["big"] * len(big))
    engine.add([(("small", i), p.char_ids) for i, p in enumerate(small)], [0, 1, 2])
    blocks = []  # (groups of the running rows, groups of the rows that advance)
    original = engine._run

    def recording_run(indices, lengths, subset=None):
        groups = [row.group for row in engine._rows]
        chosen = range(len(groups)) if subset is None else subset.tolist()
        blocks.append((groups, [groups[i] for i in chosen]))
        original(indices, lengths, subset)

    engine._run = recording_run
    results = {}
    while len(engine):
        results.update(engine.advance())
    shared = [(running, moved) for running, moved in blocks if len(set(running)) > 1]
    assert shared
    for running, moved in shared:
        # five rows a block; each small request's row among them, the big one gets the rest
        assert len(moved) == min(5, len(running))
        assert set(running) - {"big"} <= set(moved) and "big" in moved
    # alone, the big request runs all of its rows
    assert max(len(moved) for running, moved in blocks if set(running) == {"big"}) == len(big)
    for i, p in enumerate(big):
        np.testing.assert_array_equal(results[("big", i)], embedder.embed_prepared([p])[0])
    for i, p in enumerate(small):
        np.testing.assert_array_equal(results[("small", i)], embedder.embed_prepared([p])[0])


def test_large_groups_side_by_side_all_advance_at_full_width():
    embedder = Embedder.from_pretrained(ELMO_REFERENCE)
    prepared = embedder.prepare(random_sentences(12, 20, seed=23, min_words=10))
    engine = StreamingBiLM(embedder.model, block_rows=16, min_block_steps=2, shared_rows=4)
    engine.add([(i, p.char_ids) for i, p in enumerate(prepared)], [i % 2 for i in range(12)])
    widths = []
    original = engine._run
    engine._run = lambda indices, lengths, subset=None: (
        widths.append(len(lengths)),
        original(indices, lengths, subset),
    )
    results = {}
    while len(engine):
        results.update(engine.advance())
    # two requests of six, neither within its fair share (two): nobody waits
    assert widths[0] == 12
    for i, p in enumerate(prepared):
        np.testing.assert_array_equal(results[i], embedder.embed_prepared([p])[0])


def test_dropped_sentences_stop_running_and_the_others_are_unchanged():
    embedder = Embedder.from_pretrained(ELMO_REFERENCE)
    prepared = embedder.prepare(random_sentences(6, 30, seed=22))
    engine = StreamingBiLM(embedder.model, block_rows=8, min_block_steps=2)
    engine.add([(i, p.char_ids) for i, p in enumerate(prepared[:4])])
    results = dict(engine.advance())
    engine.add([(i, p.char_ids) for i, p in enumerate(prepared[4:], start=4)])  # joining
    engine.drop([1, 4, "unknown"])
    assert sorted(engine.keys()) == [0, 2, 3, 5]
    while len(engine):
        results.update(engine.advance())
    assert sorted(results) == [0, 2, 3, 5]
    for i in results:
        np.testing.assert_array_equal(results[i], embedder.embed_prepared([prepared[i]])[0])
    engine.drop(list(range(6)))  # nothing running: the arena is free again
    assert engine._used == 0
