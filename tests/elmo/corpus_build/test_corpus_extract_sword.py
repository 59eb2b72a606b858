"""A tiny zText module built here with zlib and struct, in the layout the SWORD extractor reads."""

import struct
import zlib

from elmo.corpus_build.extractors.sword import extract_sword, osis_paragraphs, read_ztext


def _write_testament(module, testament, blocks, slots, wide=False):
    """blocks: list of lists of verse strings; slots: (block, verse index) or None per slot."""
    kind = "c" if wide else "b"
    data, index, offsets = b"", b"", []
    for verses in blocks:
        raw, starts = b"", []
        for verse in verses:
            starts.append((len(raw), len(verse.encode())))
            raw += verse.encode()
        compressed = zlib.compress(raw)
        index += struct.pack("<III", len(data), len(compressed), len(raw))
        data += compressed
        offsets.append(starts)
    records = b""
    for slot in slots:
        block, verse = slot if slot is not None else (0, None)
        start, size = offsets[block][verse] if verse is not None else (0, 0)
        records += struct.pack("<III" if wide else "<IIH", block, start, size)
    (module / f"{testament}.{kind}zs").write_bytes(index)
    (module / f"{testament}.{kind}zz").write_bytes(data)
    (module / f"{testament}.{kind}zv").write_bytes(records)


def test_read_ztext_returns_the_verses_of_non_empty_slots(tmp_path):
    _write_testament(
        tmp_path, "nt", [["uno", "dos"], ["tres"]], [None, (0, 0), (0, 1), None, (1, 0)]
    )
    assert list(read_ztext(tmp_path, "nt")) == ["uno", "dos", "tres"]


def test_zcom4_entries_linked_to_several_verses_are_read_once(tmp_path):
    _write_testament(
        tmp_path, "ot", [["entry one", "entry two"]], [(0, 0), (0, 0), (0, 1)], wide=True
    )
    assert list(read_ztext(tmp_path, "ot")) == ["entry one", "entry two"]


def test_osis_drops_notes_and_titles_and_splits_paragraph_milestones():
    markup = (
        '<title type="x-introduction">Heading</title><w lemma="strong:H1">In</w> the beginning,'
        ' <w>God</w><note placement="foot">A note.</note><w>created</w> the heavens'
        ' <note>another</note>.<div type="x-p" sID="p1"/>Second &amp; last.'
    )
    assert osis_paragraphs(markup) == [
        "In the beginning, God created the heavens .",
        "Second & last.",
    ]


def test_extract_sword_makes_one_document_per_chapter(tmp_path):
    verses = [
        '<div osisID="Gen" type="book" sID="b1"/><title>Génesis</title>',
        '<chapter n="1" osisID="Gen.1" sID="Gen.1"/>',
        "EN el principio crió Dios los cielos y la tierra.",
        "Y la tierra estaba desordenada y vacía.",
        '<chapter n="2" osisID="Gen.2" sID="Gen.2"/>',
        "Y fueron acabados los cielos y la tierra.",
    ]
    _write_testament(tmp_path, "ot", [verses], [(0, i) for i in range(len(verses))])
    documents = list(extract_sword(tmp_path, "mod", {}))
    assert [(d.id, d.paragraphs) for d in documents] == [
        ("mod#Gen.1", verses[2:4]),
        ("mod#Gen.2", verses[5:]),
    ]
