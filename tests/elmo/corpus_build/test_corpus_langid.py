"""The function-word classifier on held-out lines it was not tuned on."""

import pytest

from elmo.corpus_build.langid import identify

ENGLISH = [
    "The committee will meet again next week to discuss the budget.",
    "She had never seen the sea before, and it frightened her a little.",
    "If the file does not exist, the function raises an error.",
    "We walked along the river until it was too dark to see.",
    "This option is ignored when the input is read from a pipe.",
    "Most of the houses in the village were built before the war.",
    "You can change these settings at any time from the preferences window.",
    "He said that he would rather stay at home than go out in the rain.",
    "The results of the experiment were published in a short paper.",
    "A gentle answer turns away wrath, but a harsh word stirs up anger.",
    "O woeful day!  What have they done to him?",
    "Zilpah, Leah's servant, bore Jacob a son, and she called his name Gad.",
]
SPANISH = [
    "El proceso de reemplazo usa el siguiente orden de precedencia:",
    "El comité se reunirá de nuevo la próxima semana para hablar del presupuesto.",
    "Nunca había visto el mar, y le daba un poco de miedo.",
    "Si el archivo no existe, la función devuelve un error.",
    "Caminamos junto al río hasta que estuvo demasiado oscuro para ver.",
    "Esta opción se ignora cuando la entrada se lee desde una tubería.",
    "La mayoría de las casas del pueblo se construyeron antes de la guerra.",
    "Puede cambiar esta configuración en cualquier momento desde las preferencias.",
    "Dijo que prefería quedarse en casa antes que salir con la lluvia.",
    "¿Dónde están mis llaves? ¡No las encuentro!",
    "Y llamó Dios á la luz Día, y á las tinieblas llamó Noche.",
    "Cantad á Dios, cantad: cantad á nuestro Rey, cantad.",
    "Los resultados del experimento se publicaron en un artículo breve.",
]
OTHER = [
    "Le comité se réunira de nouveau la semaine prochaine pour discuter du budget.",
    "O comitê vai se reunir novamente na próxima semana para discutir o orçamento.",
    "Il comitato si riunirà di nuovo la prossima settimana per discutere il bilancio.",
    "Der Ausschuss wird sich nächste Woche wieder treffen, um das Budget zu besprechen.",
    "Els nens i les nenes juguen al pati amb els seus amics perquè fa molt bon temps.",
    "Комитет соберётся снова на следующей неделе.",
    "委员会下周将再次开会讨论预算。",
    "Mishma, Dumah, Massa, Hadad, Tema",
    "gpg --send-keys 0xDEADBEEF",
    "",
]


@pytest.mark.parametrize("line", ENGLISH)
def test_english_lines_are_english(line):
    assert identify(line).language == "en"


@pytest.mark.parametrize("line", SPANISH)
def test_spanish_lines_are_spanish(line):
    assert identify(line).language == "es"


@pytest.mark.parametrize("line", OTHER)
def test_other_languages_lists_and_code_are_other(line):
    assert identify(line).language == "other"


def test_the_guess_keeps_its_evidence():
    guess = identify("the cat and the dog")
    assert guess.hits["en"] == 3 and guess.words == 5
