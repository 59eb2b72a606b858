import numpy as np
import pytest

from elmo.errors import InvalidInputError
from elmo.nn.chars import (
    BOS_CHAR_IDS,
    EOS_CHAR_IDS,
    MAX_CHARS,
    PADDING_CHAR_ID,
    batch_to_char_ids,
    sentence_char_ids,
    token_to_char_ids,
    validate_sentences,
)
from factories import ELMO_REFERENCE


def test_ascii_token_is_bytes_plus_one_between_word_markers():
    ids = token_to_char_ids("ab")
    assert ids[:4] == [259, ord("a") + 1, ord("b") + 1, 260]
    assert ids[4:] == [PADDING_CHAR_ID] * (MAX_CHARS - 4)


def test_non_ascii_token_uses_utf8_bytes():
    ids = token_to_char_ids("é")
    assert ids[:4] == [259, 0xC3 + 1, 0xA9 + 1, 260]


def test_long_token_is_cut_to_48_bytes_even_inside_a_character():
    token = "a" + "é" * 30  # 61 bytes; byte 48 is the first half of an "é"
    ids = token_to_char_ids(token)
    data = token.encode("utf-8")[:48]
    assert len(ids) == MAX_CHARS
    assert ids[1:49] == [b + 1 for b in data]
    assert ids[49] == 260
    assert data[-1] == 0xC3  # the cut split a two-byte character


def test_sentence_boundary_tokens_map_to_boundary_ids():
    assert token_to_char_ids("<S>") == list(BOS_CHAR_IDS)
    assert token_to_char_ids("</S>") == list(EOS_CHAR_IDS)
    assert BOS_CHAR_IDS[:3] == (259, 257, 260)
    assert EOS_CHAR_IDS[:3] == (259, 258, 260)


def test_a_sentences_char_ids_are_each_tokens_char_ids():
    long = "ñ" * 30  # 60 bytes: cut to 48
    sentence = ["El", "gato", "<S>", "né", long, "</S>", "x" * 48, "🐈", "a" * 47]
    expected = [token_to_char_ids(token) for token in sentence]
    assert sentence_char_ids(sentence).tolist() == expected
    assert sentence_char_ids(["only"]).tolist() == [token_to_char_ids("only")]
    assert tuple(sentence_char_ids([]).shape) == (0, MAX_CHARS)


def test_batch_pads_missing_tokens_with_zero_rows():
    ids = batch_to_char_ids([["a", "b", "c"], ["d"], []])
    assert ids.shape == (3, 3, MAX_CHARS)
    mask = ids.gt(0).any(-1)
    assert mask.tolist() == [[True] * 3, [True, False, False], [False] * 3]
    assert int(ids[1, 1:].abs().sum()) == 0


def test_batch_matches_allennlp_char_ids_of_reference_fixture():
    import json

    sentences = json.loads((ELMO_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
    expected = np.load(ELMO_REFERENCE / "expected.npz")
    ids = batch_to_char_ids(sentences).numpy()
    np.testing.assert_array_equal(ids, expected["char_ids"])
    np.testing.assert_array_equal(ids.any(-1), expected["mask"])


def test_empty_batch_gives_zero_rows():
    assert batch_to_char_ids([]).shape == (0, 0, MAX_CHARS)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("a sentence", "expected a list of token lists"),
        (["a sentence"], "sentence 0: expected a list of tokens"),
        ([["ok"], ["fine", 3]], "sentence 1, token 1: expected str, got int"),
        ([["ok", ""]], "sentence 0, token 1: empty token"),
        ([[None]], "expected str, got NoneType"),
    ],
)
def test_bad_input_names_sentence_and_token(bad, message):
    with pytest.raises(InvalidInputError, match=message):
        batch_to_char_ids(bad)


@pytest.mark.parametrize("token", ["\ud800", "ab\udfffc"])
def test_a_token_with_a_lone_surrogate_is_refused_naming_where(token):
    with pytest.raises(InvalidInputError, match=r"sentence 0, token 1 holds a lone surrogate U\+D"):
        validate_sentences([["ok", token]])


def test_a_surrogate_pair_decoded_into_one_character_is_accepted():
    assert validate_sentences([["\U0001f600"]]) == [["\U0001f600"]]
