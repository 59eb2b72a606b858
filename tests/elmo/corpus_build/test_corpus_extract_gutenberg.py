from elmo.corpus_build.extractors.gutenberg import (
    gutenberg_paragraphs,
    strip_gutenberg_boilerplate,
)

BOOK = """The Project Gutenberg EBook of Hamlet, by William Shakespeare

*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***

HAMLET, PRINCE OF DENMARK

ACT I.

Scene I. Elsinore. A platform before the Castle.

[Francisco at his post. Enter to him Bernardo.]

Ber.
Who's there?

First Clown.
Is she to be buried in Christian burial
that wilfully seeks her own salvation?

This is _italic_ prose
across two lines.

*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***

This file should be named hamlet.txt; licence text follows.
"""


def test_header_and_footer_go():
    body = strip_gutenberg_boilerplate(BOOK)
    assert "Project Gutenberg" not in body and "licence text" not in body
    assert "Who's there?" in body


def test_plays_lose_speakers_directions_and_headings():
    assert gutenberg_paragraphs(BOOK) == [
        "Who's there?",
        "Is she to be buried in Christian burial that wilfully seeks her own salvation?",
        "This is italic prose across two lines.",
    ]


def test_text_without_markers_is_kept_whole():
    assert gutenberg_paragraphs("One line\nand another.\n\nSecond paragraph.") == [
        "One line and another.",
        "Second paragraph.",
    ]
