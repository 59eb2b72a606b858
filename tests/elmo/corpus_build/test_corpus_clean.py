import pytest

from elmo.corpus_build.clean import (
    dedupe_key,
    looks_like_code,
    normalize_paragraph,
    rejection,
    word_count,
)


def test_normalize_collapses_space_and_drops_invisible_characters():
    text = "  Hola\u00a0 mundo\u200b ,\tsoft\u00adhyphen ¶ \n fin . "
    assert normalize_paragraph(text) == "Hola mundo, softhyphen fin."


def test_normalize_composes_accents():
    assert normalize_paragraph("cafe\u0301") == "café"


@pytest.mark.parametrize(
    "text",
    [
        "file_len = script.invoke(Array(systemFilePath), Array(), Array())",
        "$ ls -lh | numfmt --header --field 5 --from=iec --padding=10",
        "0x00000000 - 0x0000007F: 12 34 56 78",
        "[org/gnome/login-screen] disable-user-list=true",
    ],
)
def test_code_and_tables_look_like_code(text):
    assert looks_like_code(text)


@pytest.mark.parametrize(
    "text",
    [
        '"I do, sir."',
        "Call me Ishmael (never mind how long precisely) and read e.g. this.",
        "El archivo se modificó desde la última copia de respaldo (bit Archive).",
        "In 1990, 25,000 people lived in the U.S. capital.",
    ],
)
def test_prose_with_punctuation_and_numbers_is_not_code(text):
    assert not looks_like_code(text)


def test_rejection_says_why():
    assert rejection("Two words", 3) == "short"
    assert rejection("x = f(a[0]); y = g(b[1]);", 3) == "code"
    assert rejection("A sentence of prose.", 3) is None


def test_dedupe_key_ignores_case_punctuation_and_spacing():
    assert dedupe_key("Hello, World!") == dedupe_key("hello   world")
    assert dedupe_key("«Hola» mundo") == dedupe_key('"hola" Mundo.')
    assert dedupe_key("hello world") != dedupe_key("hello there world")


def test_word_count_counts_whitespace_words():
    assert word_count(" a  b\tc ") == 3
