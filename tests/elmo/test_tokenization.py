import pytest

from elmo.errors import InvalidInputError, WeightFileError
from elmo.nn.chars import BOS_CHAR_IDS, EOS_CHAR_IDS, bytes_to_char_ids
from elmo.tokenization import SentencePieceUnits, pre_tokenize, train_sentencepiece
from factories import FIXTURES


def test_pre_tokenizer_splits_punctuation_and_keeps_offsets():
    text = "Para cambiar la rueda, levanté el auto. Don't re-use 3.14!"
    words = pre_tokenize(text)
    assert [w.text for w in words] == [
        "Para",
        "cambiar",
        "la",
        "rueda",
        ",",
        "levanté",
        "el",
        "auto",
        ".",
        "Don't",
        "re-use",
        "3.14",
        "!",
    ]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_pre_tokenizer_keeps_combining_marks_with_their_letter():
    assert [w.text for w in pre_tokenize("cafe\u0301 naïve 日本語 🙂")] == [
        "cafe\u0301",
        "naïve",
        "日本語",
        "🙂",
    ]


def test_pre_tokenizer_rejects_non_text():
    with pytest.raises(InvalidInputError, match="expected text as str"):
        pre_tokenize(b"bytes")


@pytest.fixture(scope="module")
def units():
    lines = (FIXTURES / "corpus" / "train.txt").read_text(encoding="utf-8").splitlines()
    return SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))


def test_words_are_encoded_on_their_own_and_never_unknown(units):
    pieces = units.encode_words(["whale", "ñandú", "🐋"])
    assert len(pieces) == 3 and all(pieces)
    assert 0 not in [i for word in pieces for i in word]  # byte fallback: no <unk>
    assert units.encode_words([]) == []


def test_unit_char_ids_cover_boundaries_and_byte_pieces(units):
    table = units.unit_char_ids()
    assert table.shape == (units.vocab_size, 50)
    assert table[units.bos_id].tolist() == list(BOS_CHAR_IDS)
    assert table[units.eos_id].tolist() == list(EOS_CHAR_IDS)
    byte_id = units.processor.piece_to_id("<0xC3>")
    assert table[byte_id].tolist() == bytes_to_char_ids(b"\xc3")


def test_tokenizer_files_are_checked(tmp_path):
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(WeightFileError, match=r"tokenizer\.model"):
        SentencePieceUnits.load(bad)
    with pytest.raises(WeightFileError, match="cannot read tokenizer"):
        SentencePieceUnits.load(tmp_path / "missing.model")


def test_a_word_that_normalises_away_becomes_byte_pieces(units):
    (pieces,) = units.encode_words(["\ufeff"])
    assert [units.processor.id_to_piece(i) for i in pieces] == ["<0xEF>", "<0xBB>", "<0xBF>"]


def test_raw_text_with_a_lone_surrogate_is_refused_with_its_position():
    with pytest.raises(InvalidInputError, match=r"lone surrogate U\+D800 at character 4"):
        pre_tokenize("hola\ud800 mundo")
