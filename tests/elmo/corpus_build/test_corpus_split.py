from collections import Counter

from elmo.corpus_build.split import assign_split


def test_split_depends_only_on_salt_source_and_document():
    first = [assign_split("s", "src", f"doc{i}", 0.1, 0.1) for i in range(200)]
    again = [assign_split("s", "src", f"doc{i}", 0.1, 0.1) for i in range(200)]
    assert first == again
    salted = [assign_split("t", "src", f"doc{i}", 0.1, 0.1) for i in range(200)]
    assert salted != first


def test_split_fractions_are_close_to_the_requested_ones():
    counts = Counter(assign_split("s", "src", str(i), 0.05, 0.02) for i in range(20000))
    assert abs(counts["valid"] / 20000 - 0.05) < 0.01
    assert abs(counts["test"] / 20000 - 0.02) < 0.005
    assert counts["train"] + counts["valid"] + counts["test"] == 20000


def test_zero_fractions_put_everything_in_train():
    assert {assign_split("s", "src", str(i), 0.0, 0.0) for i in range(100)} == {"train"}
