import gzip

from elmo.corpus_build.extractors.gcide import entry_paragraphs, extract_gcide

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

ABUNDANCE = """Abundance \\A*bun"dance\\ ([.a]*b[u^]n"dans), n. [OE.
   (h)abundaunce, F. abondance, L. abundantia. See {Abound}.]
   An overflowing fullness; ample sufficiency; great plenty.
   [1913 Webster]

         It is lamentable to remember what abundance of noble
         blood hath been shed.                         --Raleigh.
   [1913 Webster]

   Syn: Exuberance; plenteousness; plenty.
        [1913 Webster]

   Usage: {Abundance}, {Plenty}. These words rise upon each other
          in the [ae]sthetic sense.
          [1913 Webster]
"""


def test_entry_keeps_definitions_quotes_and_usage_notes():
    assert entry_paragraphs(ABUNDANCE.splitlines()) == [
        "An overflowing fullness; ample sufficiency; great plenty.",
        "It is lamentable to remember what abundance of noble blood hath been shed.",
        "Abundance, Plenty. These words rise upon each other in the æsthetic sense.",
    ]


def test_senses_labels_and_derived_forms_go():
    entry = [
        'Untidy \\Un*ti"dy\\, a.',
        '   1. (Bot.) Not tidy or neat; slovenly. [Obs.] -- Un*ti"di*ly, adv.',
        "   [1913 Webster]",
    ]
    assert entry_paragraphs(entry) == ["Not tidy or neat; slovenly."]


def _b64(number):
    digits = ""
    while True:
        digits = _B64[number % 64] + digits
        number //= 64
        if not number:
            return digits


def test_extract_gcide_finds_entries_through_the_index(tmp_path):
    info = "00-database-info\n   Licence text.\nGCIDE is free software at column 0.\n\n"
    text = info + ABUNDANCE
    (tmp_path / "gcide.dict.dz").write_bytes(gzip.compress(text.encode()))
    index = f"00-database-info\tA\t{_b64(len(info))}\n"
    index += f"Abundance\t{_b64(len(info))}\t{_b64(len(ABUNDANCE))}\n"
    (tmp_path / "gcide.index").write_text(index, encoding="utf-8")
    documents = list(extract_gcide(tmp_path / "gcide.dict.dz", "gcide", {}))
    assert [d.id for d in documents] == ["gcide#Abundance"]
    assert len(documents[0].paragraphs) == 3
