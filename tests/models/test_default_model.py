"""The committed default model: it loads, is bilingual, and its upper layers depend on context."""

from pathlib import Path

import numpy as np
import pytest

from elmo.inference.embedder import Embedder
from elmo.inference.streaming import StreamingBiLM

DEFAULT = Path(__file__).parents[2] / "models" / "default"  # committed: a clone always has it


@pytest.fixture(scope="module")
def embedder():
    return Embedder.from_pretrained(DEFAULT)


def test_the_default_model_has_at_least_256_dimensions_and_a_tokenizer(embedder):
    assert embedder.dim >= 256 and embedder.num_layers == 3
    assert embedder.units is not None and embedder.model.lm_head is not None


def test_the_model_card_lists_sources_licences_and_the_training_command():
    card = (DEFAULT / "MODEL_CARD.md").read_text(encoding="utf-8")
    needles = ("## Corpus", "licence", "sword-text-sparv", "command: `elmo train", "tokens seen")
    assert all(needle in card for needle in needles)


def test_gato_keeps_layer_zero_and_changes_with_context_above(embedder):
    first, second = embedder.embed(
        ["El gato come pescado.", "Para cambiar la rueda, levanté el auto con el gato."]
    )
    a = first.vectors[:, first.tokens.index("gato")]  # (L, 2D)
    b = second.vectors[:, second.tokens.index("gato")]
    unit_a = a / np.linalg.norm(a, axis=1, keepdims=True)
    unit_b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cosines = (unit_a * unit_b).sum(1)  # (L,)
    assert cosines[0] == pytest.approx(1.0, abs=1e-6)
    assert cosines[1] < 0.999 and cosines[2] < 0.999


def test_a_sentence_gets_the_same_bits_alone_and_in_a_batch_of_fifty(embedder):
    text = (
        "the cat sat on a mat while el perro come pescado and rain fell over the old town "
        "para cambiar la rueda levanté el auto con el gato because nobody else would help us"
    )
    words = text.split()
    sentences = [words[i % 7 : i % 7 + 3 + (i * 5) % 28] for i in range(50)]
    batched = Embedder(embedder.model, batch_size=64, units=embedder.units).embed_tokens(sentences)
    for i in (0, 3, 17, 49):
        np.testing.assert_array_equal(embedder.embed_tokens([sentences[i]])[0], batched[i])


def test_sentences_streamed_beside_others_get_the_embedders_bits(embedder):
    text = "el gato come pescado while the rain fell over the old town and nobody came"
    words = text.split(" ")
    sentences = [words[i % 5 : i % 5 + 2 + (i * 7) % 12] for i in range(24)]
    prepared = embedder.prepare(sentences)
    expected = embedder.embed_prepared(prepared)
    engine = StreamingBiLM(embedder.model)
    results = {}
    for start in range(0, 24, 6):  # a group joins every block, beside those still running
        engine.add([(i, prepared[i].char_ids) for i in range(start, start + 6)])
        results.update(engine.advance())
    while len(engine):
        results.update(engine.advance())
    for i, want in enumerate(expected):
        np.testing.assert_array_equal(results[i], want)


def test_with_its_vocabulary_remembered_sentences_join_without_the_token_encoder(
    embedder, monkeypatch
):
    engine = StreamingBiLM(embedder.model)
    engine.remember(embedder.unit_char_ids)

    def not_again(*args, **kwargs):
        raise AssertionError("the token encoder ran for a remembered unit")

    monkeypatch.setattr(embedder.model.token_encoder, "encode_units", not_again)
    prepared = embedder.prepare([["Hola", "mundo", "!"], ["the", "cat", "sat", "down"]])
    engine.add(list(enumerate(p.char_ids for p in prepared)))
    results = {}
    while len(engine):
        results.update(engine.advance())
    monkeypatch.undo()
    for i, want in enumerate(embedder.embed_prepared(prepared)):
        np.testing.assert_array_equal(results[i], want)
