import bz2

from elmo.corpus_build.extractors.wikitext import extract_wikitext, wikitext_paragraphs

ARTICLE = (
    "{{Infobox person|name=Ada|birth_date={{birth date|1815|12|10}}}}\n"
    "'''Ada Lovelace''' was an [[England|English]] [[mathematician]].<ref>{{cite book|title=X}}"
    '</ref> She walked {{convert|5|km}} a day.<ref name="a"/>\n'
    """<!-- hidden comment -->
== Early life ==
[[File:Ada.jpg|thumb|A portrait of [[Ada Lovelace|Ada]]]]
She was born in [http://example.org London] on 10 December.
* a list item
{| class="wikitable"
| cell || cell
|}
[[Category:Mathematicians]]
"""
)


def test_wikitext_keeps_running_text_only():
    assert wikitext_paragraphs(ARTICLE) == [
        "Ada Lovelace was an English mathematician. She walked 5 km a day.",
        "She was born in London on 10 December.",
    ]


def test_extract_wikitext_streams_articles_and_skips_redirects_and_other_namespaces(tmp_path):
    dump = f"""<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
<page><title>Ada Lovelace</title><ns>0</ns><revision><text>{
        ARTICLE.replace("&", "&amp;").replace("<", "&lt;")
    }</text></revision></page>
<page><title>AccessibleComputing</title><ns>0</ns><redirect title="X" />
<revision><text>#REDIRECT [[X]]</text></revision></page>
<page><title>Talk:Ada</title><ns>1</ns><revision><text>Talk page text here.</text></revision></page>
</mediawiki>"""
    path = tmp_path / "dump.xml.bz2"
    path.write_bytes(bz2.compress(dump.encode()))
    documents = list(extract_wikitext(path, "dump", {}))
    assert [d.id for d in documents] == ["dump#Ada Lovelace"]
    assert documents[0].paragraphs[0].startswith("Ada Lovelace was an English mathematician.")
