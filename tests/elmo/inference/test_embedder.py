import threading

import numpy as np
import pytest
import torch

from elmo.errors import InvalidInputError
from elmo.inference.embedder import Embedder
from elmo.io.bundle import save_bundle
from elmo.nn import tiles
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from factories import ALL_CELLS, ELMO_REFERENCE, FIXTURES, random_sentences, tiny_model


@pytest.fixture(scope="module")
def embedder():
    return Embedder.from_pretrained(ELMO_REFERENCE, batch_size=3)


def test_returns_one_array_per_sentence_in_input_order(embedder):
    sentences = random_sentences(10, 15, seed=1)
    arrays = embedder.embed_tokens(sentences)
    assert len(arrays) == 10
    for array, sentence in zip(arrays, sentences, strict=True):
        assert array.shape == (3, len(sentence), 32) and array.dtype == np.float32
    one_by_one = [embedder.embed_tokens([s])[0] for s in sentences]
    for batched, alone in zip(arrays, one_by_one, strict=True):
        np.testing.assert_array_equal(batched, alone)


def test_batch_size_does_not_change_results(embedder):
    sentences = random_sentences(9, 20, seed=2)
    small = embedder.embed_tokens(sentences)
    large = Embedder(embedder.model, batch_size=64).embed_tokens(sentences)
    for a, b in zip(small, large, strict=True):
        np.testing.assert_array_equal(a, b)


def test_empty_batch_and_empty_sentences(embedder):
    assert embedder.embed_tokens([]) == []
    arrays = embedder.embed_tokens([[], ["Hola", "!"], []])
    assert arrays[0].shape == (3, 0, 32) and arrays[2].shape == (3, 0, 32)
    assert arrays[1].shape == (3, 2, 32)


def test_over_long_tokens_are_cut_like_the_original(embedder):
    long_word = "x" * 48
    a, b = embedder.embed_tokens([["the", long_word + "yyyy"], ["the", long_word]])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([["ok"], "not tokens"], "sentence 1: expected a list of tokens"),
        ([["ok", 5]], "sentence 0, token 1: expected str, got int"),
        ([["ok", ""]], "empty token"),
        ("raw text", "expected a list of token lists"),
    ],
)
def test_bad_input_raises_a_clear_error(embedder, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        embedder.embed_tokens(bad)


def test_invalid_settings_are_rejected():
    model = tiny_model()
    with pytest.raises(InvalidInputError, match="batch_size must be >= 1"):
        Embedder(model, batch_size=0)
    with pytest.raises(InvalidInputError, match="device 'tpu9'"):
        Embedder(model, device="tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no CUDA device"):
            Embedder(model, device="cuda")
    model.stateful = True
    with pytest.raises(InvalidInputError, match="stateless"):
        Embedder(model)


def test_concurrent_threads_get_the_same_vectors(embedder):
    sentences = random_sentences(12, 12, seed=3)
    expected = embedder.embed_tokens(sentences)
    results: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        results[k] = embedder.embed_tokens(sentences[k:] + sentences[:k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, arrays in results.items():
        for got, want in zip(arrays, expected[k:] + expected[:k], strict=True):
            np.testing.assert_array_equal(got, want)


def test_embedder_loads_a_saved_bundle(tmp_path):
    model = tiny_model("gru")
    save_bundle(model, tmp_path)
    embedder = Embedder.from_pretrained(tmp_path)
    assert (embedder.num_layers, embedder.dim) == (3, 12)
    assert embedder.embed_tokens([["a", "b"]])[0].shape == (3, 2, 12)


def test_embed_raw_text_returns_tokens_offsets_and_vectors(embedder):
    text = "El gato come pescado."
    (result,) = embedder.embed([text])
    assert result.tokens == ["El", "gato", "come", "pescado", "."]
    assert [text[a:b] for a, b in result.offsets] == result.tokens
    assert result.layers == (0, 1, 2) and not result.mixed
    np.testing.assert_array_equal(result.vectors, embedder.embed_tokens([result.tokens])[0])


def test_embed_selects_mixes_and_pools(embedder):
    tokens = [["El", "gato", "come", "pescado", "."]]
    full = embedder.embed_tokens(tokens)[0]
    (picked,) = embedder.embed(tokens, layers=[2, 0])
    np.testing.assert_array_equal(picked.vectors, full[[2, 0]])
    assert picked.offsets is None
    (mixed,) = embedder.embed(tokens, layers=[1, 2], mix="average", sentence_pooling="mean")
    np.testing.assert_allclose(mixed.vectors, (full[1] + full[2]) / 2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mixed.sentence, mixed.vectors.mean(0), rtol=1e-6, atol=1e-6)
    (empty,) = embedder.embed([""], sentence_pooling="first_last")
    assert (
        empty.tokens == [] and empty.vectors.shape == (3, 0, 32) and empty.sentence.shape == (3, 32)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": [5]}, "indices in 0..2"),
        ({"mix": "median"}, "mix must be"),
        ({"layers": [0, 1], "mix": {"weights": [1, 2, 3]}}, "3 weights for 2 selected layers"),
        ({"sentence_pooling": "sum"}, "sentence pooling must be one of"),
        ({"unit_pooling": "middle"}, "unit_pooling must be one of"),
    ],
)
def test_embed_rejects_bad_options_before_running_the_model(embedder, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        embedder.embed(["a b"], **kwargs)


def test_embed_rejects_a_single_string(embedder):
    with pytest.raises(InvalidInputError, match="got one str"):
        embedder.embed("El gato")


def test_eight_threads_get_identical_typed_results(embedder):
    texts = [" ".join(s) for s in random_sentences(16, 10, seed=9)]
    expected = embedder.embed(texts, mix="average")
    results: dict[int, list] = {}
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        results[k] = embedder.embed(texts, mix="average")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    for got in results.values():
        for a, b in zip(got, expected, strict=True):
            assert a.tokens == b.tokens and a.offsets == b.offsets
            np.testing.assert_array_equal(a.vectors, b.vectors)


def test_a_sentence_alone_is_identical_to_the_same_sentence_in_a_batch(embedder):
    sentences = random_sentences(51, 30, seed=4)
    batched = Embedder(embedder.model, batch_size=64).embed_tokens(sentences)
    for sentence, in_batch in zip(sentences[:10], batched, strict=False):
        np.testing.assert_array_equal(embedder.embed_tokens([sentence])[0], in_batch)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_every_cell_type_gives_a_sentence_the_same_bits_in_any_batch(cell):
    sentences = random_sentences(40, 25, seed=6)
    model = tiny_model(cell, seed=2)
    batched = Embedder(model, batch_size=40).embed_tokens(sentences)
    in_threes = Embedder(model, batch_size=3).embed_tokens(sentences[::-1])[::-1]
    for i in (0, 7, 39):
        alone = Embedder(model).embed_tokens([sentences[i]])[0]
        np.testing.assert_array_equal(alone, batched[i])
        np.testing.assert_array_equal(alone, in_threes[i])


def test_prepared_sentences_of_a_sentencepiece_model_give_embed_tokens_vectors(tmp_path):
    lines = (FIXTURES / "corpus" / "valid.txt").read_text(encoding="utf-8").splitlines()
    units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))
    save_bundle(tiny_model(), tmp_path, tokenizer=units)
    embedder = Embedder.from_pretrained(tmp_path)
    sentences = [["whale", "Ishmael", "unbelievably"], [], ["sea"]]
    prepared = embedder.prepare(sentences)
    assert [p.num_words for p in prepared] == [3, 0, 1]
    assert prepared[0].num_units > 3 and prepared[0].num_units == sum(prepared[0].word_units)
    unit_vectors = embedder.embed_prepared(prepared)
    assert unit_vectors[0].shape == (3, prepared[0].num_units, 12)
    for pooling in ("mean", "first", "last"):
        expected = embedder.embed_tokens(sentences, unit_pooling=pooling)
        for p, v, want in zip(prepared, unit_vectors, expected, strict=True):
            np.testing.assert_array_equal(p.word_vectors(v, pooling), want)
    with pytest.raises(InvalidInputError, match="unit_pooling must be one of"):
        prepared[0].word_vectors(unit_vectors[0], "middle")


def test_a_weight_changed_in_place_is_seen_by_the_next_call_and_through_data_after_forgetting():
    model = tiny_model("lstm", seed=3)
    embedder = Embedder(model, batch_size=4)
    sentences = random_sentences(3, 6, seed=12)
    before = embedder.embed_tokens(sentences)
    weight = model.recurrent.forward_stack.layers[0].cell.input_weight()
    with torch.no_grad():
        weight.mul_(0.5)  # counted by PyTorch's version counter
    changed = embedder.embed_tokens(sentences)
    assert not np.array_equal(changed[0][1], before[0][1])
    np.testing.assert_array_equal(changed[0], Embedder(model).embed_tokens(sentences[:1])[0])
    weight.data.mul_(2)  # not counted: kept copies are stale until forgotten
    tiles.forget_copies()
    again = embedder.embed_tokens(sentences)
    for a, b in zip(again, before, strict=True):
        np.testing.assert_array_equal(a, b)
