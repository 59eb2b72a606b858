"""The Spanish Wikicorpus sample: EAGLES tags to universal tags, and a split by blocks."""

import pytest

from elmo.errors import InvalidInputError
from elmo.evaluation.brown import UNIVERSAL_TAGS
from elmo.evaluation.sources import EvalDataError, locate_eval_data
from elmo.evaluation.wikicorpus import (
    BLOCK_SENTENCES,
    load_wikicorpus,
    universal_tag_es,
    wikicorpus_split,
)
from factories import FIXTURES

DATA = FIXTURES / "eval_data"


@pytest.mark.parametrize(
    "tag, universal",
    [
        ("NCS", "NOUN"),
        ("NP", "NOUN"),
        ("VMI", "VERB"),
        ("VSN", "VERB"),
        ("VAI", "VERB"),
        ("AQ", "ADJ"),
        ("AO", "ADJ"),
        ("SP", "ADP"),
        ("DA", "DET"),
        ("DP", "DET"),
        ("P0", "PRON"),
        ("PR", "PRON"),
        ("CC", "CONJ"),
        ("CS", "CONJ"),
        ("RG", "ADV"),
        ("RN", "ADV"),
        ("Fc", "."),
        ("Fpa", "."),
        ("Z", "NUM"),
        ("Zu", "NUM"),
        ("W", "NUM"),
        ("I", "X"),
    ],
)
def test_an_eagles_tag_maps_to_the_universal_tag_of_its_category(tag, universal):
    assert universal_tag_es(tag) == universal and universal in UNIVERSAL_TAGS


@pytest.mark.parametrize("tag", ["", "Q", "nc", "1"])
def test_an_unknown_category_raises_key_error(tag):
    with pytest.raises(KeyError):
        universal_tag_es(tag)


def test_the_fixture_loads_as_located_beside_the_polarity_data():
    data = locate_eval_data({"wikicorpus", "polarity"}, DATA, offline=True)
    assert data.wikicorpus is not None and data.polarity is not None
    assert data.wikicorpus.parent == data.polarity.parent  # one package, one cached copy
    sentences = load_wikicorpus(data.wikicorpus)
    assert len(sentences) == 60
    assert sentences[0][:3] == [("El", "DET"), ("gato", "NOUN"), ("duerme", "VERB")]
    assert {tag for s in sentences for _, tag in s} <= set(UNIVERSAL_TAGS)


@pytest.mark.parametrize(
    "line, message",
    [
        ("El/DA gato/NCS duerme ./Fp", "t.txt:2: token 'duerme' is not word/TAG"),
        ("El/DA gato/ ./Fp", "t.txt:2: token 'gato/' is not word/TAG"),
        ("El/DA /NCS ./Fp", "t.txt:2: token '/NCS' is not word/TAG"),
        ("El/DA gato/QX ./Fp", "t.txt:2: unknown EAGLES tag 'QX'"),
    ],
)
def test_a_malformed_line_is_an_error_naming_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "t.txt"
    path.write_text(f"La/DA casa/NCS ./Fp\n{line}\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=message.replace(".", r"\.")):
        load_wikicorpus(path)


def test_a_word_may_hold_a_slash_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\n1/2/Z de/SP pan/NCS ./Fp\n\n", encoding="utf-8")
    assert load_wikicorpus(path) == [[("1/2", "NUM"), ("de", "ADP"), ("pan", "NOUN"), (".", ".")]]


def test_an_empty_or_undecodable_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"empty\.txt: no tagged sentences"):
        load_wikicorpus(empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("El/DA niño/NCS\n".encode("latin-1"))
    with pytest.raises(EvalDataError, match=r"latin\.txt: not valid UTF-8"):
        load_wikicorpus(latin)


def _numbered(count):
    return [[(f"w{i}", "NOUN")] for i in range(count)]


def test_the_split_keeps_blocks_of_consecutive_sentences_together_and_is_seeded():
    sentences = _numbered(8 * BLOCK_SENTENCES)
    train, valid, test = wikicorpus_split(sentences, (5 * BLOCK_SENTENCES, 25, 50), seed=1)
    assert (len(train), len(valid), len(test)) == (5 * BLOCK_SENTENCES, 25, 50)
    index = {s[0][0]: i for i, s in enumerate(sentences)}
    for split in (train, valid, test):
        blocks = {index[s[0][0]] // BLOCK_SENTENCES for s in split}
        assert len(blocks) * BLOCK_SENTENCES == len(split)  # whole blocks only here
    seen = [s[0][0] for split in (train, valid, test) for s in split]
    assert len(set(seen)) == len(seen)
    assert wikicorpus_split(sentences, (125, 25, 50), seed=1) == [train, valid, test]
    assert wikicorpus_split(sentences, (125, 25, 50), seed=2) != [train, valid, test]


def test_asking_for_more_sentences_than_the_sample_holds_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="has 60 sentences, fewer than the 61 asked"):
        wikicorpus_split(_numbered(60), (50, 6, 5))
