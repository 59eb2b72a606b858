import pytest

from elmo.corpus_build.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "Mr. Smith went to Washington. He arrived at 3.30 p.m. today.",
            ["Mr. Smith went to Washington.", "He arrived at 3.30 p.m. today."],
        ),
        (
            "¿Qué hora es? Son las 3.45. ¡Vamos! El Sr. García llegó.",
            ["¿Qué hora es?", "Son las 3.45.", "¡Vamos!", "El Sr. García llegó."],
        ),
        ("Vino de EE. UU. en 1990. Luego se fue.", ["Vino de EE. UU. en 1990.", "Luego se fue."]),
        (
            'He said, "Stop." Then he left... And came back!',
            ['He said, "Stop."', "Then he left...", "And came back!"],
        ),
        ("See J. R. R. Tolkien for more. Done.", ["See J. R. R. Tolkien for more.", "Done."]),
        (
            "See e.g. Smith et al. The results differ (p. 5). Done.",
            ["See e.g. Smith et al.", "The results differ (p. 5).", "Done."],
        ),
        (
            "—¿Vienes? —preguntó ella. —Sí. Claro que sí.",
            ["—¿Vienes? —preguntó ella.", "—Sí.", "Claro que sí."],
        ),
        ("It costs 1,000.50 dollars. Cheap.", ["It costs 1,000.50 dollars.", "Cheap."]),
        ("Véase la pág. 45. Otro ejemplo.", ["Véase la pág. 45.", "Otro ejemplo."]),
        ("1. Introduction to things", ["1. Introduction to things"]),
        ("lower case after a period. no split", ["lower case after a period. no split"]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_pieces_without_letters_join_the_previous_sentence():
    assert split_sentences("Wait! ... 42.") == ["Wait! ... 42."]


def test_empty_text_has_no_sentences():
    assert split_sentences("") == []
