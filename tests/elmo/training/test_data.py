import shutil

import numpy as np
import pytest

from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from elmo.training.corpus import CorpusError, CorpusStats, corpus_files, read_lines
from elmo.training.data import encode_corpus, is_encoded, make_batch, plan_epoch
from factories import FIXTURES

LINES = (FIXTURES / "corpus" / "train.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def units():
    return SentencePieceUnits(train_sentencepiece(LINES, vocab_size=400))


def test_bad_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(
        b"good line\n\n   \nbad \xff\xfe utf8\nnul \x00 byte\n\x01\x02\x03\x04\nlast\r\n"
    )
    stats = CorpusStats()
    assert list(read_lines([path], stats)) == ["good line", "last"]
    assert (stats.lines, stats.used, stats.empty, stats.invalid_utf8, stats.binary) == (
        7,
        2,
        2,
        1,
        2,
    )


def test_corpus_paths_are_checked(tmp_path):
    with pytest.raises(CorpusError, match="no such file or directory"):
        corpus_files(tmp_path / "missing")
    with pytest.raises(CorpusError, match="directory holds no files"):
        corpus_files(tmp_path)
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    (tmp_path / ".hidden").write_text("h")
    assert [p.name for p in corpus_files(tmp_path)] == ["b.txt", "a.txt"]


def test_sequences_are_bounded_wrapped_and_cut_between_words(tmp_path, units):
    corpus = encode_corpus(FIXTURES / "corpus" / "train.txt", units, 16, tmp_path)
    assert corpus.stats.used == len(LINES)
    assert corpus.lengths.max() <= 16 and corpus.lengths.min() >= 3
    pieces = units.processor
    word_starts = 0
    for start, end in zip(corpus.starts[:200], corpus.ends[:200], strict=True):
        ids = corpus.units[start:end]
        assert ids[0] == units.bos_id and ids[-1] == units.eos_id
        word_starts += pieces.id_to_piece(int(ids[1])).startswith("▁")
    assert word_starts > 190  # nearly every window starts at a word (only over-long words split)


def test_encoded_corpus_is_cached_by_content(tmp_path, units):
    text = tmp_path / "t.txt"
    text.write_text("the whale\nthe sea\n")
    first = encode_corpus(text, units, 16, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    again = encode_corpus(text, units, 16, tmp_path / "cache")
    np.testing.assert_array_equal(first.units, again.units)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    text.write_text("the whale\nthe ship\n")
    encode_corpus(text, units, 16, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_corpus_without_usable_text_is_an_error(tmp_path, units):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"\n\n\xff\xff\n")
    with pytest.raises(CorpusError, match=r"empty.txt: no usable text \(1 file"):
        encode_corpus(empty, units, 16, tmp_path / "cache")


def test_epoch_plan_is_deterministic_within_budget_and_covers_every_sequence():
    lengths = np.random.default_rng(0).integers(3, 40, size=500)
    plan = plan_epoch(lengths, batch_tokens=200, micro_batches=1, seed=3, epoch=2)
    again = plan_epoch(lengths, 200, 1, seed=3, epoch=2)
    assert len(again) == len(plan)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(plan, again, strict=True))
    seen = np.concatenate([step[0] for step in plan])
    assert sorted(seen.tolist()) == list(range(500))
    for (batch,) in plan:
        assert len(batch) * lengths[batch].max() <= 200
    other = plan_epoch(lengths, 200, 1, seed=3, epoch=3)
    assert not np.array_equal(plan[0][0], other[0][0])


def test_steps_group_micro_batches_and_drop_an_incomplete_last_step():
    lengths = np.full(10, 10)
    plan = plan_epoch(lengths, batch_tokens=20, micro_batches=2, seed=0, epoch=0)
    assert len(plan) == 2 and all(len(step) == 2 for step in plan)  # 5 batches → 2 steps


def test_batch_targets_are_next_and_previous_units(tmp_path, units):
    corpus = encode_corpus(FIXTURES / "corpus" / "valid.txt", units, 12, tmp_path)
    unit_chars = np.full(units.vocab_size, 5)
    indices = np.array([0, 1, 2])
    batch = make_batch(corpus, indices, unit_chars)
    for row, i in enumerate(indices):
        ids = np.asarray(corpus.units[corpus.starts[i] : corpus.ends[i]])
        n = len(ids)
        assert batch.units[batch.inverse[row, :n]].tolist() == ids.tolist()
        assert batch.forward_targets[row, : n - 1].tolist() == ids[1:].tolist()
        assert batch.backward_targets[row, : n - 1].tolist() == ids[:-1].tolist()
        assert (batch.forward_targets[row, n - 1 :] == -100).all()
    assert batch.predictions == int((corpus.lengths[indices] - 1).sum())
    assert batch.lengths.tolist() == corpus.lengths[indices].tolist()


def test_lines_that_normalise_to_nothing_count_as_empty(tmp_path, units):
    path = tmp_path / "odd.txt"
    path.write_text("\u3000\u3000\nreal words\n\u200b\n", encoding="utf-8")
    corpus = encode_corpus(path, units, 16, tmp_path / "cache")
    assert len(corpus) == 2  # "\u200b" is a word of byte pieces; the U+3000 line is empty
    assert corpus.stats.empty == 1 and corpus.stats.used == 2
    only_space = tmp_path / "space.txt"
    only_space.write_text("\u3000\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no usable text"):
        encode_corpus(only_space, units, 16, tmp_path / "cache")


def test_an_encoded_directory_moved_elsewhere_reads_like_the_text(tmp_path, units):
    text = tmp_path / "t.txt"
    text.write_text("the whale\nthe sea and the ship\n")
    original = encode_corpus(text, units, 16, tmp_path / "cache")
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "cache" / original.key, moved)
    text.unlink()  # the text is not needed any more
    assert is_encoded(moved)
    again = encode_corpus(moved, units, 16, tmp_path / "other-cache")
    np.testing.assert_array_equal(again.units, original.units)
    np.testing.assert_array_equal(again.starts, original.starts)
    assert not (tmp_path / "other-cache").exists()


def test_an_encoded_directory_from_another_tokenizer_or_length_is_refused(tmp_path, units):
    text = tmp_path / "t.txt"
    text.write_text("the whale\n")
    key = encode_corpus(text, units, 16, tmp_path / "cache").key
    with pytest.raises(CorpusError, match=r"encoding.json: max_units is 16, but this run needs 32"):
        encode_corpus(tmp_path / "cache" / key, units, 32, tmp_path / "c2")
    other = SentencePieceUnits(train_sentencepiece(LINES[::2], vocab_size=420))
    with pytest.raises(CorpusError, match="tokenizer_sha256"):
        encode_corpus(tmp_path / "cache" / key, other, 16, tmp_path / "c2")
