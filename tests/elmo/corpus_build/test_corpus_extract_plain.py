from elmo.corpus_build.extractors.plain import (
    extract_fortunes,
    extract_plain,
    fortunes,
    plain_paragraphs,
)


def test_blank_line_paragraphs_join_their_lines():
    assert plain_paragraphs("a b\nc\n\n\nd e\r\n") == ["a b c", "d e"]


def test_line_paragraphs_keep_lines_apart():
    assert plain_paragraphs("a b\nc\n\nd", mode="line") == ["a b", "c", "d"]


def test_fortunes_split_on_percent_lines_and_lose_attributions():
    text = "El que escribe lee\ndos veces.\n\t\t-- Anónimo.\n%\nSegunda galleta.\n%\n"
    assert fortunes(text) == ["El que escribe lee dos veces.", "Segunda galleta."]


def test_every_fortune_is_a_document(tmp_path):
    path = tmp_path / "arte.fortunes"
    path.write_text("Uno dos tres.\n%\nCuatro cinco seis.\n", encoding="utf-8")
    assert [d.id for d in extract_fortunes(path, "es/arte", {})] == ["es/arte#0", "es/arte#1"]


def test_strip_brackets_removes_transcript_notes(tmp_path):
    path = tmp_path / "speech.txt"
    path.write_text("Thank you. [Applause] We begin. (Laughter.) Now.\n", encoding="utf-8")
    (document,) = extract_plain(path, "s", {"paragraphs": "blank", "strip_brackets": True})
    assert document.paragraphs == ["Thank you. We begin. Now."]
