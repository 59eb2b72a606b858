"""The layer-0 cache: the same bits with and without it, bounded, thread-safe, never stale."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from elmo import Embedder
from elmo.errors import InvalidInputError
from elmo.inference.embedder import DEFAULT_TOKEN_CACHE
from elmo.nn.chars import sentence_char_ids
from elmo.nn.token_cache import TokenCache
from factories import random_sentences, tiny_model

LINES = (
    "the cat sat on the mat .",
    "el gato come pescado en la casa .",
    "the dog sat on the cat and the mat .",
    "levanté el auto con el gato .",
)
PROSE = [line.split() for line in LINES]


def _equal(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_vectors_are_bit_identical_with_and_without_the_cache_across_calls():
    model = tiny_model()
    plain = Embedder(model, batch_size=3, token_cache=0)
    cached = Embedder(model, batch_size=3, token_cache=1000)
    assert plain.token_cache is None and cached.token_cache is not None
    mixed = random_sentences(12, 9, seed=3) + PROSE
    for batch in (PROSE, mixed, PROSE[::-1], mixed[5:]):  # overlapping words, other batches
        assert _equal(cached.embed_tokens(batch), plain.embed_tokens(batch))
    stats = cached.token_cache.stats()
    assert stats.hits > 0 and stats.misses > 0 and stats.units <= 1000
    assert 0 < stats.hit_rate < 1


def test_a_full_cache_evicts_the_least_recently_used_units_and_stays_exact():
    model = tiny_model()
    plain = Embedder(model, token_cache=0)
    small = Embedder(model, token_cache=5)
    for batch in (PROSE, random_sentences(6, 7, seed=1), PROSE):
        assert _equal(small.embed_tokens(batch), plain.embed_tokens(batch))
        assert len(small.token_cache) == 5


def test_least_recently_used_order_decides_what_stays():
    cache = TokenCache(max_units=2)
    encoder = tiny_model().token_encoder.eval()
    units = {w: sentence_char_ids([w]).long() for w in ("a", "b", "c")}  # (1, 50) each
    with torch.inference_mode():
        for word in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" comes
            cache.encode(units[word], encoder.encode_units)
        before = cache.stats()
        cache.encode(units["a"], encoder.encode_units)
        assert cache.stats().hits == before.hits + 1  # "a" stayed
        cache.encode(units["b"], encoder.encode_units)
        assert cache.stats().misses == before.misses + 1  # "b" was evicted


def test_an_in_place_change_of_the_weights_empties_the_cache():
    model = tiny_model()
    cached = Embedder(model, token_cache=1000)
    cached.embed_tokens(PROSE)
    with torch.no_grad():
        model.token_encoder.projection.bias.add_(0.5)
    assert _equal(cached.embed_tokens(PROSE), Embedder(model, token_cache=0).embed_tokens(PROSE))


def test_threads_sharing_one_small_cache_get_the_right_vectors():
    model = tiny_model()
    expected = Embedder(model, batch_size=4, token_cache=0).embed_tokens(PROSE)
    shared = Embedder(model, batch_size=4, token_cache=7)  # evicts all the time
    failures: list[str] = []

    def work(seed: int) -> None:
        for round_ in range(6):
            order = PROSE[seed % 4 :] + PROSE[: seed % 4]
            got = shared.embed_tokens(order)
            want = expected[seed % 4 :] + expected[: seed % 4]
            if not _equal(got, want):
                failures.append(f"thread {seed}, round {round_}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_cache_is_bypassed_while_gradients_flow_into_the_encoder():
    encoder = tiny_model().token_encoder.train()
    cache = TokenCache()
    char_ids = sentence_char_ids(PROSE[0]).long()  # (n, 50)
    vectors = encoder(char_ids, cache)
    assert vectors.grad_fn is not None and cache.stats().hits + cache.stats().misses == 0


def test_a_table_filled_in_inference_mode_serves_calls_under_no_grad():
    encoder = tiny_model().token_encoder.eval()
    cache = TokenCache()
    first, second = (sentence_char_ids(s).long() for s in PROSE[:2])
    with torch.inference_mode():
        encoder(first, cache)
    with torch.no_grad():
        mixed = encoder(torch.cat([first, second]), cache)  # hits and new units
        assert torch.equal(mixed, encoder(torch.cat([first, second])))


def test_cache_sizes_are_checked_and_the_cpu_default_is_on():
    with pytest.raises(ValueError, match="max_units must be at least 1"):
        TokenCache(0)
    with pytest.raises(InvalidInputError, match="token_cache must be >= 0"):
        Embedder(tiny_model(), token_cache=-1)
    default = Embedder(tiny_model())
    assert default.token_cache is not None and default.token_cache.max_units == DEFAULT_TOKEN_CACHE
